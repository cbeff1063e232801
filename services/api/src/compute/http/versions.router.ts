/** Version discovery: GET / (every version) and GET /v2.1 (this one), as Nova answers them. */
import { Router } from 'express';
import { MAX_VERSION, MIN_VERSION } from '../domain/microversion';
import type { Urls } from './context';

export function versionDocuments(urls: Urls) {
  const v21 = {
    id: 'v2.1',
    status: 'CURRENT',
    version: MAX_VERSION.toString(),
    min_version: MIN_VERSION.toString(),
    updated: '2013-07-23T11:33:21Z',
  };
  return {
    root: {
      versions: [
        {
          id: 'v2.0',
          status: 'SUPPORTED',
          version: '',
          min_version: '',
          updated: '2011-01-21T11:33:21Z',
          links: [{ rel: 'self', href: `${urls.root}/v2/` }],
        },
        { ...v21, links: [{ rel: 'self', href: `${urls.root}/v2.1/` }] },
      ],
    },
    v21: {
      version: {
        ...v21,
        links: [
          { rel: 'self', href: `${urls.root}/v2.1/` },
          { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' },
        ],
        'media-types': [
          { base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' },
        ],
      },
    },
  };
}

/** GET / (mounted at the root). */
export function rootVersionRouter(urls: Urls): Router {
  const router = Router();
  const docs = versionDocuments(urls);
  router.get('/', (_req, res) => {
    res.json(docs.root);
  });
  return router;
}

/** GET /v2.1 and /v2.1/ (mounted under /v2.1, after the microversion middleware). */
export function v21VersionRouter(urls: Urls): Router {
  const router = Router();
  const docs = versionDocuments(urls);
  router.get('/', (_req, res) => {
    res.json(docs.v21);
  });
  return router;
}
