// MeetingResponse (MS-ASCMD 2.2.1.11): a device accepts, tentatively accepts or declines invitations,
// named by their mail (CollectionId + RequestId, or a Search LongId) or, from 14.1, by their calendar
// item. Each Request gets its own Result; CalendarId names the calendar item unless declined. From
// 16.1 an answer the server sends may propose another time (a counter-proposal).
import { child, childrenOf, childText, type WbxmlElement } from '../wbxml/tree.js';
import { ns } from '../wbxml/ns.js';
import { parseLongId } from '../ports/items.js';
import type { MeetingAnswer } from '../ports/meetings.js';
import { V141, V160, V161 } from '../version.js';
import { parseEasDate } from '../pim/items.js';
import { itemServerId, parseFolderId, parseItemServerId } from './serverid.js';
import { CommandFailure, type CommandContext, type CommandResult } from './context.js';

const MR = ns('MeetingResponse');

export const MeetingResponseStatus = { Success: 1, InvalidRequest: 2, MailboxError: 3, ServerError: 4 } as const;

export const MAX_MEETING_RESPONSES = 100;

const ANSWERS: ReadonlyMap<string, MeetingAnswer> = new Map([['1', 'accepted'], ['2', 'tentative'], ['3', 'declined']]);

/** The largest SendResponse text kept, in characters. */
const MAX_RESPONSE_TEXT = 64 * 1024;

async function answerOne(ctx: CommandContext, request: WbxmlElement): Promise<WbxmlElement> {
  const requestId = childText(request, 'MeetingResponse:RequestId');
  const longId = childText(request, 'Search:LongId');
  const instanceText = childText(request, 'MeetingResponse:InstanceId');
  const reply = (status: number, calendarId?: string): WbxmlElement => MR('Result',
    requestId !== undefined && MR('RequestId', requestId.slice(0, 64)),
    MR('Status', status),
    calendarId !== undefined && MR('CalendarId', calendarId),
    status === MeetingResponseStatus.Success && instance !== undefined && MR('InstanceId', new Date(instance).toISOString()));
  let instance: number | undefined;
  const refuse = (reason: string): WbxmlElement => {
    ctx.log({ level: 'info', msg: 'MeetingResponse refused', reason });
    return reply(MeetingResponseStatus.InvalidRequest);
  };

  const answer = ANSWERS.get(childText(request, 'MeetingResponse:UserResponse')?.trim() ?? '');
  if (!answer) return refuse('UserResponse is not 1, 2 or 3');
  let target: { folderId: number; itemId: number } | undefined;
  if (longId !== undefined) {
    const id = parseLongId(longId);
    target = id && { folderId: id.folderId, itemId: id.messageId };
  } else {
    const ref = parseItemServerId(requestId);
    // RequestId is the item's ServerId, which names its folder; CollectionId must agree with it.
    const folder = parseFolderId(childText(request, 'MeetingResponse:CollectionId'));
    target = ref && (folder === undefined || folder === ref.folderId) ? ref : undefined;
  }
  if (!target) return refuse('no readable RequestId with its CollectionId, or LongId');
  // One occurrence of a series (14.1+), named by its original start.
  if (instanceText !== undefined) {
    if (ctx.version < V141) return refuse('InstanceId is 14.1 and later');
    instance = parseEasDate(instanceText);
    if (instance === undefined) return refuse('InstanceId is not a date and time');
  }
  const send = ctx.version >= V160 ? child(request, 'MeetingResponse:SendResponse') : undefined;
  const text = send ? (childText(child(send, 'AirSyncBase:Body'), 'AirSyncBase:Data') ?? '').slice(0, MAX_RESPONSE_TEXT) : undefined;
  const proposal = send && ctx.version >= V161 ? proposalOf(send) : undefined;
  if (typeof proposal === 'string') return refuse(proposal);
  const outcome = await ctx.backend.meetings.respond(ctx.principal, {
    answer, folderId: target.folderId, itemId: target.itemId, ...(text !== undefined ? { sendResponse: { text, ...(proposal ? { proposal } : {}) } } : {}),
    ...(instance !== undefined ? { instance } : {}),
  });
  switch (outcome.kind) {
    case 'answered':
      return reply(MeetingResponseStatus.Success, outcome.calendarItem && itemServerId(outcome.calendarItem.folderId, outcome.calendarItem.itemId));
    case 'invalid': return refuse(outcome.reason);
    case 'mailbox-error':
      ctx.log({ level: 'warn', msg: 'MeetingResponse: not recorded', reason: outcome.reason });
      return reply(MeetingResponseStatus.MailboxError);
    case 'send-failed':
      ctx.log({ level: 'warn', msg: 'MeetingResponse: answer recorded, not sent', reason: outcome.reason });
      return reply(MeetingResponseStatus.ServerError);
  }
}

/**
 * A new time proposed with the answer (16.1 SendResponse ProposedStartTime/EndTime, Compact
 * DateTime); a reason when it cannot be one. An end needs a start (MS-ASCMD 2.2.3.141); a start alone
 * keeps the meeting's length.
 */
function proposalOf(send: WbxmlElement): { start: number; end?: number } | string | undefined {
  const startText = childText(send, 'MeetingResponse:ProposedStartTime');
  const endText = childText(send, 'MeetingResponse:ProposedEndTime');
  if (startText === undefined) return endText === undefined ? undefined : 'ProposedEndTime without ProposedStartTime';
  const start = parseEasDate(startText);
  if (start === undefined) return 'ProposedStartTime is not a date and time';
  if (endText === undefined) return { start };
  const end = parseEasDate(endText);
  if (end === undefined) return 'ProposedEndTime is not a date and time';
  if (end < start) return 'ProposedEndTime is before ProposedStartTime';
  return { start, end };
}

export async function meetingResponse(ctx: CommandContext): Promise<CommandResult> {
  const requests = childrenOf(ctx.request, 'MeetingResponse:Request');
  if (!ctx.request || requests.length === 0) throw new CommandFailure(103, 'MeetingResponse names no Request');
  if (requests.length > MAX_MEETING_RESPONSES) throw new CommandFailure(103, `MeetingResponse carries more than ${MAX_MEETING_RESPONSES} requests`);
  const stray = ctx.request.children.find((c) => c.tag !== 'MeetingResponse:Request');
  if (stray) throw new CommandFailure(103, `${stray.tag} does not belong in MeetingResponse`);
  const results: WbxmlElement[] = [];
  // One after another: two answers to the same meeting must not interleave.
  for (const r of requests) results.push(await answerOne(ctx, r));
  return { kind: 'wbxml', body: MR('MeetingResponse', results) };
}
