"""Training: one job description, a loop that knows phases, recipes and augmentation as parts.

- `job.py`: TrainJob (clips, summary, settings filled once, family arguments, state, outputs)
- `launcher.py`: `launch_training` (in-process or torchrun workers) and the command line
- `loop.py`: the loop (checkpoints, previews, best, early stop, time budget, DDP)
- `recipes.py`: registered recipes (wavegan, modern); `augment.py`; `ema.py`
- `history.py`: losses.csv, quality.csv, curves, previews; `selection.py`: best checkpoint, patience
- `identity.py`: the run id (settings, dataset, the import closure of this package)
"""

from .identity import run_id, run_identity, train_settings
from .job import TrainJob, TrainOutputs
from .launcher import launch_training, main
from .loop import PREEMPTED_EXIT_CODE, Preempted, TrainingDiverged, loss_columns
from .previews import PREVIEW_GAP_SECONDS

__all__ = [
    "PREEMPTED_EXIT_CODE",
    "PREVIEW_GAP_SECONDS",
    "Preempted",
    "TrainJob",
    "TrainOutputs",
    "TrainingDiverged",
    "launch_training",
    "loss_columns",
    "main",
    "run_id",
    "run_identity",
    "train_settings",
]
