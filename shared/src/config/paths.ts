/** Where the config file is read from when neither --config nor FAILOVER_CONFIG names one. */
export const DEFAULT_CONFIG_PATH = 'config/failover.yaml';
