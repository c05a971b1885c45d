#!/usr/bin/env node
// The `celeriac` command of the umbrella package: the one @celeriac/cli ships.
import '@celeriac/cli/bin';
