import { dnsSiteIssues, recordInZoneIssues } from './dns-record';

describe('the rules every DNS step shares', () => {
  it.each([
    ['the apex', 'portal.example.', 'portal.example.', 'A', []],
    ['a name below the zone', 'www.portal.example.', 'portal.example.', 'CNAME', []],
    ['any name in the root zone', 'www.portal.example.', '.', 'A', []],
    ['another zone', 'www.other.example.', 'portal.example.', 'A', [{ path: ['record'], message: 'www.other.example. is not inside zone portal.example.' }]],
    ['a mere suffix match', 'www.evilportal.example.', 'portal.example.', 'A', [{ path: ['record'], message: 'www.evilportal.example. is not inside zone portal.example.' }]],
    ['a CNAME at the apex', 'portal.example.', 'portal.example.', 'CNAME', [{ path: ['record'], message: 'a CNAME cannot be at the zone apex' }]],
  ] as const)('record in zone: %s', (_name, record, zone, type, want) => {
    expect(recordInZoneIssues(record, zone, type)).toEqual(want);
  });

  it('names every site the record type cannot hold, at the step\'s type', () => {
    const sites = [
      { name: 'v4', routing: { address: '192.0.2.10' } },
      { name: 'v6', routing: { address: '2001:db8::10' } },
      { name: 'alias', routing: { target: 'standby.example.' } },
    ];
    expect(dnsSiteIssues({ type: 'A' }, sites)).toEqual([
      { path: ['type'], message: 'site v6 routing.address 2001:db8::10 is IPv6 but the record type is A' },
      { path: ['type'], message: 'site alias needs routing.address for an A record' },
    ]);
    expect(dnsSiteIssues({ type: 'CNAME' }, sites.slice(2))).toEqual([]);
  });
});
