"""What a stage reads: `ReadShard`s (raw lines of the inputs, parsed by whoever runs them) for the first
stage, `KeptShard`s (the kept records of a shard of the stage before) after it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from tunesmith.prepare.config import PrepareConfig
from tunesmith.prepare.work import Shard
from tunesmith.records.example import Example
from tunesmith.records.formats.files import Raw


@dataclass
class ReadShard:
    """Up to `shard_size` raw records of the inputs, turned into Examples by whoever runs the shard."""
    readers: list                      # formats.Reader per input file
    # (reader index, *the fields of a files.Raw*): plain tuples pickle for the workers ~10x faster than Raws
    raws: list = field(default_factory=list)
    first: int = 0                     # records before this shard (default ids are "#<position>")

    def add(self, which: int, raw: Raw) -> None:
        self.raws.append((which, raw.line, raw.raw, raw.value, raw.error, raw.unparsed))

    def __len__(self) -> int:
        return len(self.raws)

    def items(self) -> list:
        out = []
        for seq, (which, *fields) in enumerate(self.raws, self.first + 1):
            item = self.readers[which].example(Raw(*fields))
            if isinstance(item, Example) and not item.meta.get("id"):
                item.meta["id"] = f"#{seq}"
            out.append(item)
        return out


@dataclass(frozen=True)
class KeptShard:
    """The kept records of one shard of the stage before."""
    shard: Shard

    def __len__(self) -> int:
        return self.shard.stats()["kept"]

    def items(self) -> list[Example]:
        return self.shard.kept()


def read_shards(cfg: PrepareConfig) -> Iterator[ReadShard]:
    """The inputs' raw records (JSON Lines unparsed: the workers parse), `shard_size` at a time."""
    from tunesmith.records import formats

    readers = [formats.reader(path, cfg.format, cfg.columns or None, strict=cfg.strict) for path in cfg.inputs]
    shard = ReadShard(readers)
    for which, reader in enumerate(readers):
        for raw in reader.raws():
            shard.add(which, raw)
            if len(shard.raws) == cfg.shard_size:
                yield shard
                shard = ReadShard(readers, first=shard.first + len(shard.raws))
    if shard.raws:
        yield shard
