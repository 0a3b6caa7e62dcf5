"""The operators' management script, ``pynamodb-tables COMMAND`` (or ``python -m pynamodb_tables``).

One module per concern; the command line imports the rest, never the reverse, and everything of the
library it uses is public (its tables, items, errors, events, repairs and read API,
``pynamodb_tables.reads``):

- ``cli``: the parser, ``COMMANDS`` (every command listed) and ``main``; ``arguments``: option
  declarations and value types, and the table pair they name; ``errors``: exit codes and one-line
  messages; ``commands``: each command's handler beside its options (the repairs' too).
- ``definition``: what an operator deploys, from one definition (the tables, the CloudFormation
  template, the worker's IAM policy, the CloudWatch dashboard); ``provisioning``: the tables in
  DynamoDB (``describe-tables``, ``create-tables``, ``delete-tables``).
- ``jobs``: what the reading commands read (``status``, ``list-jobs``, ``export``); ``region_map``:
  the SVG picture of a job's regions.
- ``views``: what the commands show, as data and as plain text; ``terminal``: colour, live redraws
  (rich) and views fitted to a terminal's width; ``presentation``: a reading command's output, a view
  or JSON, once or watched until the job ends.
- ``demo``: the simulated image job.
"""

from .cli import main

__all__ = ["main"]
