/** The page's words in Vietnamese and English. Plain words for citizens, not operator jargon. */
export type Lang = 'vi' | 'en';
export const LANGS: readonly Lang[] = ['vi', 'en'];

export type PublicState = 'operational' | 'standby' | 'switching' | 'degraded' | 'disrupted' | 'unknown';

export const STATE_TEXT: Record<PublicState, Record<Lang, string>> = {
  operational: { vi: 'Đang hoạt động bình thường', en: 'Operating normally' },
  standby: { vi: 'Đang phục vụ từ nhà cung cấp dự phòng', en: 'Served from the standby provider' },
  switching: { vi: 'Đang chuyển sang nhà cung cấp dự phòng', en: 'Switching to the standby provider' },
  degraded: { vi: 'Có thể chậm hoặc gián đoạn một phần', en: 'Partly degraded' },
  disrupted: { vi: 'Đang gián đoạn', en: 'Service disruption' },
  unknown: { vi: 'Chưa có thông tin', en: 'Status not known yet' },
};

export type IncidentKind = 'outage' | 'planned' | 'drill';

export const INCIDENT_TEXT: Record<IncidentKind, Record<Lang, string>> = {
  outage: { vi: 'Sự cố tại nhà cung cấp', en: 'Outage at the provider' },
  planned: { vi: 'Chuyển đổi theo kế hoạch', en: 'Planned switch' },
  drill: { vi: 'Diễn tập chuyển đổi dự phòng', en: 'Failover drill' },
};

export const T = {
  lang: { vi: 'Tiếng Việt', en: 'English' },
  provider: { vi: 'Nhà cung cấp đang phục vụ', en: 'Provider serving now' },
  availability: { vi: 'Tỷ lệ sẵn sàng', en: 'Availability' },
  windows: { vi: { '24h': '24 giờ', '7d': '7 ngày', '30d': '30 ngày', '90d': '90 ngày' }, en: { '24h': '24 hours', '7d': '7 days', '30d': '30 days', '90d': '90 days' } },
  noData: { vi: 'chưa có dữ liệu', en: 'no data yet' },
  incidents: { vi: 'Sự cố và chuyển đổi gần đây', en: 'Recent incidents and switches' },
  noIncidents: { vi: 'Không có sự cố nào được ghi nhận.', en: 'No incidents recorded.' },
  firstFailure: { vi: 'Phát hiện lỗi đầu tiên', en: 'First failure' },
  switchStarted: { vi: 'Bắt đầu chuyển đổi', en: 'Switch started' },
  recovered: { vi: 'Khôi phục phục vụ', en: 'Service restored' },
  switchFailed: { vi: 'Chuyển đổi không thành công', en: 'Switch failed' },
  fromTo: { vi: 'Từ {from} sang {to}', en: 'From {from} to {to}' },
  maintenance: { vi: 'Bảo trì theo kế hoạch', en: 'Planned maintenance' },
  noMaintenance: { vi: 'Không có lịch bảo trì.', en: 'No maintenance planned.' },
  maintenanceFrom: { vi: 'Từ {from}', en: 'From {from}' },
  maintenanceUntil: { vi: 'đến {until}', en: 'until {until}' },
  maintenanceOpen: { vi: 'cho đến khi có thông báo mới', en: 'until further notice' },
  lastDrill: { vi: 'Lần diễn tập thành công gần nhất', en: 'Last successful drill' },
  noDrill: { vi: 'Chưa có lần diễn tập nào.', en: 'No drill yet.' },
  drillMode: { vi: { dryRun: 'kiểm tra kế hoạch', roundTrip: 'chuyển sang dự phòng và quay lại' }, en: { dryRun: 'plan check', roundTrip: 'switch to standby and back' } },
  updated: { vi: 'Cập nhật lúc', en: 'Updated' },
  timeZone: { vi: 'Giờ hiển thị theo múi giờ', en: 'Times are shown in' },
  noPortals: { vi: 'Chưa có cổng thông tin nào được công bố.', en: 'No portal is published yet.' },
  portals: { vi: 'Các cổng dịch vụ', en: 'Portals' },
} as const;

export function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => values[k] ?? '');
}

/** `?lang=` wins, then the first supported language in Accept-Language (by q), then the configured default. */
export function chooseLanguage(query: unknown, acceptLanguage: string | undefined, fallback: Lang): Lang {
  if (query === 'vi' || query === 'en') return query;
  if (acceptLanguage) {
    const ranked = acceptLanguage
      .split(',')
      .map((part, i) => {
        const [tag, ...params] = part.trim().split(';');
        const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)).find(Boolean);
        return { tag: tag.trim().toLowerCase(), q: q ? Number(q[1]) : 1, i };
      })
      .filter((x) => x.q > 0)
      .sort((a, b) => b.q - a.q || a.i - b.i);
    for (const { tag } of ranked) {
      const base = tag.split('-')[0];
      if (base === 'vi' || base === 'en') return base;
    }
  }
  return fallback;
}
