"""Everything MLflow: the store, runs and their logs, the model registry and its `champion` alias,
and the groups of runs that sweeps and studies make.

The rest of trainlab calls these functions and never imports mlflow itself.
"""
from .registry import (CHAMPION, SELECTION_METRIC, VALIDATION_TAG, Registration, champion, champion_uri,
                                        model_metadata, register, version_of)
from .runs import (CARD, log_text, run_text, active_run_id, describe_run, log_datasets, process_start, HOST_TAG, MODEL_NAME, MODEL_URI_TAG, PID_TAG, EpochLogger, run_owner, run_status, search_runs, latest_finished_run, load_model,
                                    log_dict, log_figure, log_metrics, log_model, log_params, log_series, run, run_metrics, run_model_uri,
                                    set_tags)
from . import groups
from .store import configure

__all__ = ["CARD", "log_text", "run_text", "describe_run", "log_datasets", "process_start", "VALIDATION_TAG", "active_run_id", "HOST_TAG", "PID_TAG", "run_owner", "run_status", "search_runs", "CHAMPION", "MODEL_NAME", "MODEL_URI_TAG", "SELECTION_METRIC", "EpochLogger", "Registration", "champion",
           "champion_uri", "configure", "groups", "latest_finished_run", "load_model", "log_dict", "log_figure", "log_metrics",
           "log_model", "log_params", "log_series", "model_metadata", "register", "run", "run_metrics", "run_model_uri", "set_tags", "version_of"]
