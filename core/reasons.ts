/** Why a decision came out as it did. Codes are stable; messages are for people. */
export interface Reason {
  code: string;
  message: string;
}

export const reason = (code: string, message: string): Reason => ({ code, message });
