// Both reach into another package's files instead of its public entry point.
import '@celeriac/core/dist/index.js';
import '../../packages/core/src/errors.js';
