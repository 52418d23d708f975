import type { RequestHandler } from 'express';
import { z } from 'zod';
import { addDays, canonicalTimeZone, dateIn, isValidTimeZone } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { listScheduled } from '../creatives/queries.ts';
import { presentPublicCreative, PublicCreativeSchema } from '../creatives/present.ts';

export const ScheduledQuerySchema = z.object({
  tz: z.string().refine(isValidTimeZone, 'must be an IANA time zone such as Europe/Paris').transform(canonicalTimeZone).optional()
    .meta({ description: 'IANA time zone (any capitalisation); default APP_TIMEZONE.', example: 'Europe/Paris' }),
});
export const ScheduledSchema = z.object({
  timezone: z.string(),
  today: z.array(PublicCreativeSchema),
  tomorrow: z.array(PublicCreativeSchema),
  dates: z.object({ today: z.iso.date(), tomorrow: z.iso.date() }),
}).meta({ id: 'Scheduled' });

/**
 * GET /v1/creatives/scheduled?tz=Area/City: every user's ready creatives going live today and
 * tomorrow, "today" being the calendar date at this instant in `tz` (default APP_TIMEZONE).
 */
export function handleScheduledCreatives({ db, config, clock }: Pick<Deps, 'db' | 'config' | 'clock'>): RequestHandler {
  return async (req, res) => {
    const tz = ScheduledQuerySchema.parse(req.query).tz ?? config.timeZone;
    const today = dateIn(tz, clock.now());
    const tomorrow = addDays(today, 1);
    const rows = await listScheduled(db, [today, tomorrow]);
    res.json({
      timezone: tz,
      today: rows.filter((c) => c.scheduled_on === today).map(presentPublicCreative),
      tomorrow: rows.filter((c) => c.scheduled_on === tomorrow).map(presentPublicCreative),
      dates: { today, tomorrow },
    });
  };
}
