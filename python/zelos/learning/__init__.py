"""Learning from point logs: what a chain's logs say (``zelos report``: :mod:`.point_report`, over
the records of :mod:`.records`), a new emulator trained on the parent's set plus the logged points
(``zelos retrain``: :mod:`.retrain`), whether it is better (:mod:`.verdict`), and both while a
chain runs (:mod:`.online`). See docs/active-learning.md."""
