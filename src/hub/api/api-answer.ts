/** What a route answers: a status and a JSON body (none for a 204). */
export interface ApiAnswer {
  status: number;
  body?: unknown;
}
