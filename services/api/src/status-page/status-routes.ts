import type { Request, Response } from 'express';
import type { ApiContext } from '../context';
import { HttpError } from '../http-errors';
import { chooseLanguage } from './i18n';
import { renderStatusPage } from './render';

/** GET /status and /status.json: public, no token; 404 when `statusPage.enabled` is false. */
function enabledOr404(ctx: ApiContext): void {
  if (!ctx.config.statusPage.enabled) throw new HttpError(404, 'the public status page is disabled (statusPage.enabled: false)');
}

export async function statusHtml(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  enabledOr404(ctx);
  const lang = chooseLanguage(req.query.lang, req.header('accept-language'), ctx.config.statusPage.defaultLanguage);
  const doc = await ctx.status.build();
  res
    .type('html')
    .set('Content-Language', lang)
    .set('Vary', 'Accept-Language')
    .set('Cache-Control', 'public, max-age=5')
    .send(renderStatusPage(doc, lang, (l) => `?lang=${l}`));
}

export async function statusJson(ctx: ApiContext, _req: Request, res: Response): Promise<void> {
  enabledOr404(ctx);
  res.set('Cache-Control', 'public, max-age=5').json(await ctx.status.build());
}
