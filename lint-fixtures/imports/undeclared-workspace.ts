// A workspace package resolves through a symlink out of node_modules; it must still be declared.
import { ErrorCodes } from '@celeriac/core';

export const code: string = ErrorCodes.INVALID_OPTION;
