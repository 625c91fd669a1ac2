"""``crossling pretrain`` (to be generated from PretrainConfig)."""

from crossling.cli import app
from crossling.models.pretrain import pretrain_command

app.command("pretrain")(pretrain_command)
