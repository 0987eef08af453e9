"""Examples for the API's documentation (OpenAPI, GraphiQL): two real records of the enriched dataset, and
the answers the service gave for them. tests/unit/api/test_openapi_docs.py checks each against its schema."""

from __future__ import annotations

# A median-ish employee (Burn Rate 0.41: Medium): the dataset's median in most columns.
COMPLETE_RECORD: dict[str, object] = {
    "Gender": "Female",
    "Company Type": "Service",
    "WFH Setup Available": "No",
    "Designation": 2,
    "Resource Allocation": 4.0,
    "Mental Fatigue Score": 5.9,
    "Work Hours per Week": 48,
    "Sleep Hours": 6.3,
    "Work-Life Balance Score": 2,
    "Manager Support Score": 3,
    "Deadline Pressure Score": 4,
    "Team Size": 9,
    "Recognition Frequency": 0,
}
# A junior employee without a Mental Fatigue Score, as 9% of the dataset (Burn Rate 0.24: Low); the model
# imputes a missing value, sent as null or left out.
RECORD_WITH_MISSING_VALUE: dict[str, object] = {
    "Gender": "Female",
    "Company Type": "Service",
    "WFH Setup Available": "Yes",
    "Designation": 1,
    "Resource Allocation": 1.0,
    "Mental Fatigue Score": None,
    "Work Hours per Week": 43,
    "Sleep Hours": 6.4,
    "Work-Life Balance Score": 3,
    "Manager Support Score": 5,
    "Deadline Pressure Score": 2,
    "Team Size": 10,
    "Recognition Frequency": 3,
}

# Answers recorded from the service: its app over an in-memory registry whose version 3, family lightgbm, is
# a LightGBM pipeline (the agreed preprocessor) trained on the enriched dataset's labelled rows. Not rounded,
# so that base + contributions = output and the probabilities add up to 1 as in a real answer.

# POST /predict with [COMPLETE_RECORD, RECORD_WITH_MISSING_VALUE].
PREDICT_ANSWER: dict[str, object] = {
    "request_id": "0f6c2a1e9b7d-2a",
    "model": {"alias": "champion", "version": 3, "family": "lightgbm"},
    "predictions": [
        {
            "class": "Medium",
            "probabilities": {
                "Low": 7.065685330091737e-05,
                "Medium": 0.9928076633306911,
                "High": 0.0071216798160078625,
            },
            "model_version": 3,
        },
        {
            "class": "Low",
            "probabilities": {
                "Low": 0.9990335614782109,
                "Medium": 0.0009521779166017849,
                "High": 1.4260605187309941e-05,
            },
            "model_version": 3,
        },
    ],
}

# POST /predict?explain=true with [COMPLETE_RECORD] (TreeSHAP, on the log-odds).
PREDICT_EXPLAINED_ANSWER: dict[str, object] = {
    "request_id": "0f6c2a1e9b7d-2b",
    "model": {"alias": "champion", "version": 3, "family": "lightgbm"},
    "predictions": [
        {
            "class": "Medium",
            "probabilities": {
                "Low": 7.065685330091737e-05,
                "Medium": 0.9928076633306911,
                "High": 0.0071216798160078625,
            },
            "model_version": 3,
            "explanation": {
                "base": {
                    "Low": -4.603090513594683,
                    "Medium": -0.6461457649062203,
                    "High": -5.081915435801655,
                },
                "output": {
                    "Low": -8.215924156841927,
                    "Medium": 1.3345329669300847,
                    "High": -3.602860359025791,
                },
                "contributions": {
                    "Low": {
                        "Gender": -5.8155246552194433e-05,
                        "Company Type": -0.0009993737232348394,
                        "WFH Setup Available": 0.0010066735687591672,
                        "Designation": 0.021968953492699686,
                        "Resource Allocation": -0.0456505476123295,
                        "Mental Fatigue Score": -1.8049805396325858,
                        "Work Hours per Week": -1.557004506498828,
                        "Sleep Hours": -0.006243372735248668,
                        "Work-Life Balance Score": -0.2627683524813556,
                        "Manager Support Score": 0.00762456447988273,
                        "Deadline Pressure Score": 0.0047873914796299575,
                        "Team Size": 0.012147354690700501,
                        "Recognition Frequency": 0.017336266971215614,
                    },
                    "Medium": {
                        "Gender": -0.001932626546522618,
                        "Company Type": -0.0004075264413353632,
                        "WFH Setup Available": -0.0025452129685666998,
                        "Designation": -0.17726346952593355,
                        "Resource Allocation": 0.24268537933309736,
                        "Mental Fatigue Score": 1.9170707364739998,
                        "Work Hours per Week": 0.03914701343861046,
                        "Sleep Hours": 0.0005716561231973273,
                        "Work-Life Balance Score": -0.0013160988216763868,
                        "Manager Support Score": -0.0016657668565986195,
                        "Deadline Pressure Score": -0.029376220216909294,
                        "Team Size": -0.0031410393859835654,
                        "Recognition Frequency": -0.001148092769076568,
                    },
                    "High": {
                        "Gender": 0.0197275823929935,
                        "Company Type": 0.056248233372383216,
                        "WFH Setup Available": 0.14416162588181605,
                        "Designation": 0.26918878134491636,
                        "Resource Allocation": 0.12355461398671923,
                        "Mental Fatigue Score": 0.2202992720138022,
                        "Work Hours per Week": 0.48275679760886037,
                        "Sleep Hours": 0.0072353803334337915,
                        "Work-Life Balance Score": -0.058864018699106145,
                        "Manager Support Score": -0.01665266619238109,
                        "Deadline Pressure Score": 0.14711720911368947,
                        "Team Size": 0.05572972898151927,
                        "Recognition Frequency": 0.02855253663721646,
                    },
                },
                "top_factors": [
                    {
                        "feature": "Mental Fatigue Score",
                        "value": 5.9,
                        "class": "Medium",
                        "contribution": 1.9170707364739998,
                        "text": "Mental Fatigue Score = 5.9 raises the log-odds of Medium by 1.92",
                    },
                    {
                        "feature": "Resource Allocation",
                        "value": 4,
                        "class": "Medium",
                        "contribution": 0.24268537933309736,
                        "text": "Resource Allocation = 4 raises the log-odds of Medium by 0.24",
                    },
                    {
                        "feature": "Designation",
                        "value": 2,
                        "class": "Medium",
                        "contribution": -0.17726346952593355,
                        "text": "Designation = 2 lowers the log-odds of Medium by 0.18",
                    },
                ],
            },
        }
    ],
    "explainer": {"method": "tree_shap", "exact": True, "scale": "log_odds"},
}

# 422: record 1 with Sleep Hours 25, record 2 with Gender "Robot".
INVALID_RECORDS_ERROR: dict[str, object] = {
    "message": "record 1, field 'Sleep Hours': must be between 0 and 24, got 25 (and 1 more)",
    "detail": [
        {
            "record": 1,
            "field": "Sleep Hours",
            "type": "out_of_range",
            "msg": "must be between 0 and 24, got 25",
        },
        {
            "record": 2,
            "field": "Gender",
            "type": "unknown_category",
            "msg": "must be one of 'Female', 'Male', got 'Robot'",
        },
    ],
}

# 400: the body `[{`.
INVALID_JSON_ERROR: dict[str, object] = {
    "message": "the body is not valid JSON: Input data was truncated",
    "detail": [
        {
            "record": None,
            "field": None,
            "type": "invalid_json",
            "msg": "the body is not valid JSON: Input data was truncated",
        }
    ],
}

# 404: ?model=nope.
UNKNOWN_ALIAS_ERROR: dict[str, object] = {
    "message": "registered model 'burnout-risk' has no alias 'nope' (aliases: champion)",
    "detail": [],
}

# 415: a text/plain body.
WRONG_MEDIA_TYPE_ERROR: dict[str, object] = {
    "message": "POST /predict takes application/json, got 'text/plain'",
    "detail": [],
}

# 503: no champion registered yet.
NO_MODEL_ERROR: dict[str, object] = {
    "message": "no model yet: alias 'champion' of registered model 'burnout-risk' is not set; run the "
    "burnout_pipeline DAG (or `burnout pipeline`) to train and promote one",
    "detail": [],
}

# GET /ready with the champion loaded (200), and before any model is registered (503).
READY: dict[str, object] = {
    "ready": True,
    "state": "ready",
    "mlflow": "reachable",
    "champion_version": 3,
    "last_error": None,
    "checked_at": "2026-12-01T11:12:51.911015+00:00",
}
NOT_READY: dict[str, object] = {
    "ready": False,
    "state": "no_model",
    "mlflow": "reachable",
    "champion_version": None,
    "last_error": None,
    "checked_at": "2026-12-01T11:12:51.965135+00:00",
}
