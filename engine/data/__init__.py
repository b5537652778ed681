"""Tasks and data: the lab's tasks (numbers and sentences), a user's series as a forecasting task, and
a user's own model's weights read into the app's models."""


from engine.data.checkpoint import (
    Checkpoint,
    CheckpointError,
    build_uploaded,
    configure,
    file_values,
    find_recurrent,
    fit_inputs,
)
from engine.data.series import (
    NOT_FOR_SERIES,
    Series,
    SeriesError,
    check_fits,
    make_series,
    series_baseline,
    series_batch,
    window_starts,
    windows_batch,
)
from engine.data.tasks import (
    COPY_BLANK,
    COPY_DELIMITER,
    COPY_SYMBOLS,
    DICTIONARY,
    PATTERNS,
    SENTIMENT_FILLER,
    SENTIMENT_NOT,
    SENTIMENT_WORDS,
    SINE_AMPLITUDE,
    SINE_NOISE,
    SINE_OMEGA,
    SINE_WALK,
    TASKS,
    Batch,
    baseline,
    copy_length,
    get_task,
    input_steps,
    make_batch,
    metric,
    scored_steps,
    task_loss,
)
from engine.data.word_tasks import WORDS

__all__ = [
    "Batch", "COPY_BLANK", "COPY_DELIMITER", "COPY_SYMBOLS", "Checkpoint", "CheckpointError", "DICTIONARY",
    "NOT_FOR_SERIES", "PATTERNS", "SENTIMENT_FILLER", "SENTIMENT_NOT", "SENTIMENT_WORDS", "SINE_AMPLITUDE",
    "SINE_NOISE", "SINE_OMEGA", "SINE_WALK", "Series", "SeriesError", "TASKS", "WORDS", "baseline", "build_uploaded",
    "check_fits", "configure", "copy_length", "file_values", "find_recurrent", "fit_inputs", "get_task", "input_steps",
    "make_batch", "make_series", "metric", "scored_steps", "series_baseline", "series_batch", "task_loss",
    "window_starts", "windows_batch",
]
