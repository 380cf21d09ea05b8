import { createApprovalPageHandler } from '../core/adapters/aws/approval-handlers.js';

/** Lambda behind the approval page's function URL: GET/HEAD show the request, POST with the form's nonce decides. */
export const handler = createApprovalPageHandler();
