// The SubmissionPort over the store.
import type { SubmissionPort } from '../../eas/ports/submission.js';
import type { ServiceDeps } from './deps.js';

export class SubmissionService implements SubmissionPort {
  readonly ready = false;
  constructor(private readonly deps: ServiceDeps) {}
}
