/** The zonefile provider: parser, rewrite and atomic file are its parts, adapter the TrafficProvider over them. */
export { zonefileProvider, type ZonefileStepConfig } from './adapter';
export { parseTtl, parseZone, type ParsedZone, type ZoneRecord } from './parser';
export { nextSerial, rewriteZone, type RecordChange } from './rewrite';
