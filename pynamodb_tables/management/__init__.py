"""The operators' management script, ``pynamodb-tables COMMAND`` (or ``python -m pynamodb_tables``).

One module per concern; the command line imports the rest, never the reverse:

- ``cli``: the parser and ``main`` (exit codes, one-line errors); ``commands``: each command's
  handler beside its options; ``options``: option declarations and value types;
  ``settings``: endpoint, region and table names; ``errors``: exit codes and one-line messages.
- ``definition``: the tables as declared (``create-tables`` and ``template`` from one source);
  ``provisioning``: create and delete; ``inspection``: ``describe-tables``.
- ``job_status``: one job (``status``); ``job_list``: the fleet (``list-jobs``); ``export``:
  a job's items as JSON lines; ``reads``: paginated raw reads and their read units.
- ``template``: the CloudFormation template; ``iam_policy``: the worker's IAM policy; ``dashboard``: the
  CloudWatch dashboard of the workers' operations (the metrics ``emf_listener`` writes).
- ``repair_commands``: ``reconcile``, ``fail-stale``, ``end-job`` and ``map`` (the repairs themselves are the
  library's, ``pynamodb_tables.repair``); ``repair_views``: their output; ``region_map``: the SVG picture.
- ``presentation``: a reading command's output, a view or JSON, once or watched; ``watch``: polling
  until the job ends, riding out outages.
- ``render``: views as data and as plain text; ``fitting``: views fitted to a terminal's width;
  ``terminal``: colour and live redraws (rich).
- ``demo``, ``demo_scenario``, ``demo_workers``, ``demo_checks``: the simulated image job.
"""

from .cli import main

__all__ = ["main"]
