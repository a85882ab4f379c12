"""The `syncer` command: `shell` runs one command, `parser` knows the command line, `commands`
does what each says, `console` ends it in one line."""

from syncer.cli.shell import main

__all__ = ["main"]
