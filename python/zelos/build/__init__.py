"""`zelos build`: from a spec to a trained, validated, documented emulator archive.

    spec -> design (train and held-out test points) -> the code's driver over every point
         -> fitted transforms + Rust training per network -> archive -> accuracy on the test
         points -> report (JSON, Markdown, plots) -> NAME.tar.gz
"""

from .pipeline import BuildError, BuildOptions, build

__all__ = ["BuildError", "BuildOptions", "build"]
