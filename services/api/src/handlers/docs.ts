import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express, { type RequestHandler } from 'express';
import { buildOpenApiDocument } from '../openapi.ts';

const API_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** GET /openapi.json: the reference, built once from the route schemas. */
export function handleOpenApi(): RequestHandler {
  const body = JSON.stringify(buildOpenApiDocument(API_VERSION));
  return (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').type('application/json').send(body);
  };
}

// Swagger UI from the npm package (no CDN): its files, our page and our initialiser.
const SWAGGER_UI_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cheershare API reference</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script><script src="/docs/init.js"></script></body></html>`;
const INIT = "window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n";

/** /docs: a readable page for people, served entirely from this API. */
export function handleDocs(): RequestHandler[] {
  const files = express.static(SWAGGER_UI_DIR, { index: false, maxAge: '1h' });
  return [
    (req, res, next) => {
      // Swagger UI's own index page and initialiser point at a demo API elsewhere: never served.
      if (req.path === '/' || req.path === '' || req.path === '/index.html') {
        res.set({ 'Cache-Control': 'no-cache', 'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'" }).type('html').send(PAGE);
        return;
      }
      if (req.path === '/init.js' || req.path === '/swagger-initializer.js') {
        res.type('application/javascript').send(INIT);
        return;
      }
      next();
    },
    files,
  ];
}
