/** Entry point for the trust of check results: signing and verifying them, and the vantages' keys. */
export * from '../security/result-signature';
export * from '../security/vantage-keys';
