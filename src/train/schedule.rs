//! The learning rate of each epoch.

use super::Schedule;

/// The learning rate through a run. The rate is fixed within an epoch; the plateau schedule
/// also needs to hear, after each epoch, whether the validation loss improved.
#[derive(Debug, Clone)]
pub struct LrScheduler {
    schedule: Schedule,
    initial: f64,
    final_: f64,
    epochs: usize,
    /// Plateau only: the current rate and the epochs since the last improvement or cut.
    plateau_lr: f64,
    stale: usize,
}

/// Epochs without improvement before the plateau schedule divides the rate by 10.
pub const PLATEAU_EPOCHS: usize = 10;

impl LrScheduler {
    pub fn new(schedule: Schedule, initial: f64, final_: f64, epochs: usize) -> Self {
        LrScheduler { schedule, initial, final_, epochs, plateau_lr: initial, stale: 0 }
    }

    /// The rate of epoch `epoch` (0-based): `initial` at 0, `final` at `epochs - 1` for the
    /// cosine and exponential schedules.
    pub fn lr(&self, epoch: usize) -> f64 {
        // The fraction of the run done, 0 at the first epoch and 1 at the last.
        let t = if self.epochs > 1 { (epoch.min(self.epochs - 1)) as f64 / (self.epochs - 1) as f64 } else { 0.0 };
        match self.schedule {
            Schedule::Constant => self.initial,
            Schedule::Cosine => {
                self.final_ + 0.5 * (self.initial - self.final_) * (1.0 + (std::f64::consts::PI * t).cos())
            }
            Schedule::Exponential => self.initial * (self.final_ / self.initial).powf(t),
            Schedule::Plateau => self.plateau_lr,
        }
    }

    /// Records the end of an epoch: whether its validation loss was the best so far.
    pub fn observe(&mut self, improved: bool) {
        if self.schedule != Schedule::Plateau {
            return;
        }
        if improved {
            self.stale = 0;
            return;
        }
        self.stale += 1;
        if self.stale >= PLATEAU_EPOCHS {
            // Like PyTorch's ReduceLROnPlateau (no cooldown): the count restarts after a cut.
            self.plateau_lr = (self.plateau_lr / 10.0).max(self.final_);
            self.stale = 0;
        }
    }
}
