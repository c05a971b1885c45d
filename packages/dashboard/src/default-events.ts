import { CeleriacError, ErrorCodes } from '@celeriac/core';
import type { EventSubscriber } from './dashboard-options.js';

/** Celery events of the app's broker. */
export const defaultEventSubscriber: EventSubscriber = () =>
  Promise.reject(
    new CeleriacError(ErrorCodes.INVALID_OPTION, 'dashboard: no event receiver in this build'),
  );
