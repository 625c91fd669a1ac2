"""Progress of pre-training: one display per model, fed by the trainer's events (models may train at once)."""

from __future__ import annotations

from typing import Any

from crossling._utils.progress import progress_bar
from crossling.models.pretrain.trainer import TrainEvent

__all__ = ["TrainingBars"]


class TrainingBars:
    """One progress display per model (:func:`crossling._utils.progress.progress_bar`: a tqdm bar on a
    terminal, plain lines in a log), fed by :class:`~crossling.models.pretrain.trainer.TrainEvent`.

    Call it with every event (it is a ``progress`` callable of
    :func:`~crossling.models.pretrain.experiment.pretrain_experiment`), then :meth:`close` it.

    Attributes
    ----------
    bars : dict
        Model name -> its display, created at the model's first event.
    """

    def __init__(self) -> None:
        self.bars: dict[str, Any] = {}

    def __call__(self, event: TrainEvent) -> None:
        """Advance the model's display to ``event.step``; show the held-out loss after an evaluation.

        Parameters
        ----------
        event : TrainEvent
        """
        bar = self.bars.get(event.model)
        if bar is None:
            # A resumed model's first event is the step after its checkpoint.
            bar = self.bars[event.model] = progress_bar(event.max_steps, event.model, "step",
                                                        initial=event.step - 1)
        bar.update(event.step - bar.n)
        if event.val_loss is not None:
            bar.set_postfix_str(f"val_loss={event.val_loss:.3f}")
        if event.step >= event.max_steps:
            bar.close()

    def close(self) -> None:
        """Close every display (a model that stopped early never reached its last step)."""
        for bar in self.bars.values():
            bar.close()
