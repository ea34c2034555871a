"""`gpt-tui datasets [delete NAME]`: the prepared datasets of the store (name, tokens, size, tokenizer,
source, the runs that use them), and deleting one that no queued or running run uses."""

from __future__ import annotations

import rich_click as click
from rich.table import Table

from tui.cli.base import EXIT_OK, Group, console, store
from tui.models import datasets_view as dv


def datasets_table(infos: list[dv.DatasetInfo]) -> Table:
    t = Table(box=None, pad_edge=False)
    for key, title in dv.COLUMNS:
        t.add_column(title, justify="right" if key in dv.NUMERIC else "left", overflow="fold")
    for info in infos:
        t.add_row(*dv.cell_texts(info))
    return t


@click.command("delete", help="delete a prepared dataset (refused while a queued or running run uses it)")
@click.argument("name", help="the dataset's folder name, as `gpt-tui datasets` lists it")
def delete(name: str) -> int:
    console.print(dv.delete_dataset(store(existing=True), name), markup=False)  # DatasetInUse: exit 2
    return EXIT_OK


class DatasetsGroup(Group):
    what = "datasets command"


@click.group(
    "datasets",
    cls=DatasetsGroup,
    invoke_without_command=True,
    commands=[delete],
    help="the prepared datasets: name, tokens, size, tokenizer, source and the runs that use them",
)
@click.pass_context
def datasets(ctx: click.Context) -> int:
    if ctx.invoked_subcommand is not None:
        return EXIT_OK
    s = store()
    infos = dv.list_datasets(s) if s.root.is_dir() else []
    if not infos:
        console.print(
            f"no prepared dataset in {s.datasets_dir}; `gpt-tui prepare --set dataset=... --engine` prepares one",
            markup=False,
        )
        return EXIT_OK
    console.print(datasets_table(infos))
    return EXIT_OK
