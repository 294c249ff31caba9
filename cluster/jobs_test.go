package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestJobArchiveBounds: the archive keeps the newest jobs up to its count,
// none older than its ttl, and each log up to its size (start and end, whole
// lines, a marker between); evicted jobs lose their record and log at once.
func TestJobArchiveBounds(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	a := NewJobArchive(rdb, "b:", time.Hour)
	a.maxJobs, a.maxLog, a.headPart = 3, 100, 25
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a.now = func() time.Time { return now }
	exists := func(id string) bool {
		n, err := rdb.Exists(ctx, "b:job:"+id).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	save := func(id, log string) {
		t.Helper()
		if err := a.SaveJob(ctx, id, []byte(`{"id":"`+id+`"}`), []byte(log)); err != nil {
			t.Fatal(err)
		}
	}
	listed := func() string {
		t.Helper()
		recs, err := a.RecentJobs(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range recs {
			ids = append(ids, strings.TrimSuffix(strings.TrimPrefix(string(r), `{"id":"`), `"}`))
		}
		return strings.Join(ids, " ")
	}

	for i := range 5 {
		now = now.Add(time.Second)
		save(fmt.Sprint("j", i), "x\n")
	}
	if got := listed(); got != "j4 j3 j2" {
		t.Errorf("listed %q, want the newest 3", got)
	}
	for id, want := range map[string]bool{"j0": false, "j1": false, "j2": true, "j4": true} {
		if exists(id) != want {
			t.Errorf("record of %s kept = %v, want %v", id, !want, want)
		}
	}

	now = now.Add(2 * time.Hour)
	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf("line %04d\n", i))
	}
	save("big", strings.Join(lines, ""))
	if got := listed(); got != "big" {
		t.Errorf("listed %q after the ttl, want only the new job", got)
	}
	if exists("j2") || exists("j4") {
		t.Error("records older than the ttl were kept")
	}
	_, log, err := a.GetJob(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join(lines[:2], "") + "… 41 lines (410 bytes) dropped …\n" + strings.Join(lines[43:], "")
	if string(log) != want {
		t.Errorf("archived log =\n%s\nwant\n%s", log, want)
	}
	if ttl, _ := rdb.PTTL(ctx, "b:job:recent").Result(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("index ttl = %v, want at most the archive's", ttl)
	}
}
