package server

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/atollhq/atoll/locking"
)

// metrics are Atoll's Prometheus series.
type metrics struct {
	webhooks     *prometheus.CounterVec   // by event kind and HTTP code
	jobs         *prometheus.CounterVec   // by kind and result
	jobSeconds   *prometheus.HistogramVec // by kind and result
	projects     *prometheus.CounterVec   // project runs by command and result
	locksHeld    prometheus.GaugeFunc
	locksLeaked  prometheus.Counter // locks of closed PRs released by the reconciler
	lockConflict prometheus.Counter
	polls        *prometheus.CounterVec // open pull request listings by result
	pollPlans    prometheus.Counter     // autoplans the poller started
	spooled      prometheus.Gauge       // webhooks waiting in the local spool
	auditErrors  prometheus.Counter     // audit entries that could not be written
	lockAge      prometheus.GaugeFunc
	queued       prometheus.GaugeFunc
	plansQueued  prometheus.GaugeFunc
}

// newMetrics registers Atoll's series; st is read at scrape time for the
// held locks, the oldest lock's age and the jobs waiting.
func newMetrics(reg *prometheus.Registry, st locking.Store, now func() time.Time) (*metrics, error) {
	read := func(f func(ctx context.Context) (float64, error)) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			v, err := f(ctx)
			if err != nil {
				return math.NaN() // unknown, not zero
			}
			return v
		}
	}
	// Both lock gauges come from one read per scrape.
	var locksMu sync.Mutex
	var locksRead time.Time
	var locks []locking.Lock
	var locksErr error
	listLocks := func(ctx context.Context) ([]locking.Lock, error) {
		locksMu.Lock()
		defer locksMu.Unlock()
		if time.Since(locksRead) > time.Second {
			locks, locksErr = st.List(ctx, locking.Filter{})
			locksRead = time.Now()
		}
		return locks, locksErr
	}
	heldLocks := read(func(ctx context.Context) (float64, error) {
		ls, err := listLocks(ctx)
		return float64(len(ls)), err
	})
	oldestLock := read(func(ctx context.Context) (float64, error) {
		ls, err := listLocks(ctx)
		oldest := 0.0
		for _, l := range ls {
			oldest = max(oldest, now().Sub(l.Time).Seconds())
		}
		return oldest, err
	})
	waiting := read(func(ctx context.Context) (float64, error) {
		recs, err := st.Jobs(ctx)
		n := 0
		for _, r := range recs {
			if r.State != journalRunning {
				n++
			}
		}
		return float64(n), err
	})
	plansQueued := read(func(ctx context.Context) (float64, error) {
		qs, err := st.Queues(ctx, "")
		n := 0
		for _, q := range qs {
			n += len(q.Entries)
		}
		return float64(n), err
	})
	m := &metrics{
		plansQueued: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "atoll_plans_queued",
			Help: "Plans waiting in lock queues for a lock another pull request holds (read from the lock store at scrape time)."}, plansQueued),
		lockAge: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "atoll_lock_oldest_age_seconds",
			Help: "Age of the oldest workspace lock held, 0 with none (read from the lock store at scrape time)."}, oldestLock),
		queued: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "atoll_jobs_waiting",
			Help: "Jobs accepted and not yet started, on every replica (read from the job journal at scrape time)."}, waiting),
		locksHeld: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "atoll_locks_held",
			Help: "Workspace locks held by pull requests (read from the lock store at scrape time)."}, heldLocks),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "atoll_webhooks_total",
			Help: "Webhooks received, by event and HTTP status."}, []string{"event", "code"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "atoll_jobs_total",
			Help: "Background jobs finished, by kind and result."}, []string{"kind", "result"}),
		jobSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "atoll_job_duration_seconds",
			Help: "Background job duration, by kind and result.", Buckets: prometheus.ExponentialBuckets(0.5, 2, 12)}, []string{"kind", "result"}),
		projects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "atoll_project_runs_total",
			Help: "Project plan/apply runs, by command and result."}, []string{"command", "result"}),
		locksLeaked: prometheus.NewCounter(prometheus.CounterOpts{Name: "atoll_locks_reconciled_total",
			Help: "Locks of merged or closed pull requests released by the reconciler."}),
		lockConflict: prometheus.NewCounter(prometheus.CounterOpts{Name: "atoll_lock_conflicts_total",
			Help: "Plans not run because another pull request held a lock."}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "atoll_pull_polls_total",
			Help: "Listings of a repository's open pull requests by the poller, by result (changed, unchanged: a free 304, error)."}, []string{"result"}),
		pollPlans: prometheus.NewCounter(prometheus.CounterOpts{Name: "atoll_pull_poll_autoplans_total",
			Help: "Autoplans started by the poller for a pull request head with no plan status (a missed webhook)."}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "atoll_audit_write_errors_total",
			Help: "Audit trail entries that could not be written to the store (alert on any)."}),
		spooled: prometheus.NewGauge(prometheus.GaugeOpts{Name: "atoll_webhooks_spooled",
			Help: "Webhooks accepted while the shared store was unreachable, waiting in this replica's local spool."}),
	}
	for _, c := range []prometheus.Collector{m.locksHeld, m.webhooks, m.jobs, m.jobSeconds, m.projects, m.locksLeaked, m.lockConflict, m.polls, m.pollPlans, m.spooled, m.auditErrors, m.lockAge, m.queued, m.plansQueued,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metric: %w", err)
		}
	}
	return m, nil
}
