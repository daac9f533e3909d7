"""Everything MLflow: the store, runs and their logs, the model registry and its `champion` alias,
the groups of runs that sweeps and studies make, and the model card a run logs.

The rest of trainlab calls these functions and never imports mlflow itself.
"""
from . import groups
from .model_registry import (
                             CHAMPION,
                             SELECTION_METRIC,
                             TIE_METRIC,
                             VALIDATION_TAG,
                             Registration,
                             champion,
                             champion_uri,
                             model_metadata,
                             outranks,
                             register,
                             run_id_of,
                             version_of,
)
from .runs import (
                             CARD,
                             HOST_TAG,
                             MODEL_NAME,
                             MODEL_URI_TAG,
                             PID_TAG,
                             active_run_id,
                             describe_run,
                             latest_finished_run,
                             load_model,
                             log_datasets,
                             log_dict,
                             log_figure,
                             log_metrics,
                             log_model,
                             log_params,
                             log_series,
                             log_text,
                             process_start,
                             run,
                             run_metrics,
                             run_model_uri,
                             run_owner,
                             run_params,
                             run_status,
                             run_text,
                             search_runs,
                             set_tags,
)
from .store import configure

__all__ = ["CARD", "CHAMPION", "HOST_TAG", "MODEL_NAME", "MODEL_URI_TAG", "PID_TAG", "SELECTION_METRIC", "TIE_METRIC",
           "VALIDATION_TAG", "Registration", "active_run_id", "champion", "champion_uri", "configure",
           "describe_run", "groups", "latest_finished_run", "load_model", "log_datasets", "log_dict", "log_figure",
           "log_metrics", "log_model", "log_params", "log_series", "log_text", "model_metadata", "outranks",
           "process_start", "register", "run", "run_id_of", "run_metrics", "run_model_uri", "run_owner", "run_params",
           "run_status", "run_text", "search_runs", "set_tags", "version_of"]
