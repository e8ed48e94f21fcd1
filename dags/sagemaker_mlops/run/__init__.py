"""The top floor: a run's form Params, Variables, resolve() gathering every capability's checks, budget, preflight
and outcome."""
