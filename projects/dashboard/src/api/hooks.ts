import { useEffect, useRef, useState } from "react";
import { useQueryClient, type QueryKey } from "@tanstack/react-query";
import { subscribe, onLiveStatus, type LiveEvent, type LiveStatus } from "./live";

/**
 * useLive invalidates the given queries whenever topic has an event, and
 * hands each event to onEvent (e.g. to append a rollup to a chart).
 */
export function useLive(topic: string | undefined, keys: QueryKey[], onEvent?: (e: LiveEvent) => void) {
  const qc = useQueryClient();
  const keyStr = JSON.stringify(keys);
  const handler = useRef(onEvent);
  handler.current = onEvent;
  useEffect(() => {
    if (!topic) return;
    return subscribe(topic, (e) => {
      if (e.event === "subscribed" || e.event === "unsubscribed") return;
      for (const k of JSON.parse(keyStr) as QueryKey[]) void qc.invalidateQueries({ queryKey: k });
      handler.current?.(e);
    });
  }, [topic, keyStr, qc]);
}

export function useLiveStatus(): LiveStatus {
  const [s, setS] = useState<LiveStatus>("idle");
  useEffect(() => {
    const off = onLiveStatus(setS);
    return () => {
      off();
    };
  }, []);
  return s;
}
