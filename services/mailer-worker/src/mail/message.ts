/** An email's content; the envelope and every header but the subject are set by deliverOnce. */
export interface Message {
  subject: string;
  text: string;
  html: string;
}

export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
