/**
 * What a server process costs, read from /proc: CPU time (user + system) and resident memory of
 * the process and all its descendants (nginx's worker, --workers children), so that every server
 * is measured the same way whatever its process layout.
 */
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ, which Linux fixes at 100 for /proc/<pid>/stat

export interface ProcessCost {
  /** CPU seconds used so far (user + system), over the whole tree. */
  cpuSeconds: number;
  /** Of which in the kernel (system time): for a push server mostly the TCP send path. */
  systemSeconds: number;
  /** Resident set size now, in bytes, summed over the tree. */
  rssBytes: number;
  processes: number;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // the process ended meanwhile
  }
}

function descendants(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) {
    const tasks = read(`/proc/${all[i]}/task/${all[i]}/children`);
    if (tasks) for (const child of tasks.trim().split(/\s+/).filter(Boolean)) all.push(Number(child));
  }
  return all;
}

export function processCost(pid: number): ProcessCost {
  let cpuTicks = 0;
  let systemTicks = 0;
  let rssKiB = 0;
  let processes = 0;
  for (const each of descendants(pid)) {
    const stat = read(`/proc/${each}/stat`);
    const status = read(`/proc/${each}/status`);
    if (!stat || !status) continue;
    // The command name (field 2) may hold spaces; fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    cpuTicks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    systemTicks += Number(fields[12]);
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
    rssKiB += rss ? Number(rss[1]) : 0;
    processes += 1;
  }
  return { cpuSeconds: cpuTicks / TICKS_PER_SECOND, systemSeconds: systemTicks / TICKS_PER_SECOND, rssBytes: rssKiB * 1024, processes };
}
