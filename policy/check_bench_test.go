package policy

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCheck evaluates a real 200-resource plan against 3 policy sets. The
// ratio metric compares one Check with one json.Unmarshal of the same plan JSON
// into any, measured in the same run, so it is comparable across machines.
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	plan := planJSON(b, `
resource "terraform_data" "r" {
  count = 200
  input = count.index % 50 == 0 ? "forbidden-${count.index}" : "value-${count.index}"
}

resource "terraform_data" "tmp_scratch" {
  input = "scratch"
}
`)
	root := b.TempDir()
	forbidden := writeFiles(b, filepath.Join(root, "forbidden"), map[string]string{"forbidden.rego": forbiddenV0})
	advice := writeFiles(b, filepath.Join(root, "advice"), map[string]string{"advice.rego": adviceV1})
	tags := writeFiles(b, filepath.Join(root, "tags"), map[string]string{"tags.rego": tagsV1, "lib/lib.rego": libV0})
	c, err := Load(ctx, []Set{
		{Name: "forbidden", Path: forbidden},
		{Name: "advice", Path: advice},
		{Name: "tags", Path: tags},
	})
	if err != nil {
		b.Fatal(err)
	}
	// Check the work is real before timing it.
	res, err := c.Check(ctx, plan)
	if err != nil {
		b.Fatal(err)
	}
	if got := len(res[0].Failures); got != 4 {
		b.Fatalf("forbidden set: %d failures, want 4", got)
	}
	if got := len(res[1].Warnings); got != 201 {
		b.Fatalf("advice set: %d warnings, want 201", got)
	}

	// Baseline: decoding the same plan JSON with encoding/json.
	const baseRuns = 50
	start := time.Now()
	for range baseRuns {
		var v any
		if err := json.Unmarshal(plan, &v); err != nil {
			b.Fatal(err)
		}
	}
	baseNs := float64(time.Since(start).Nanoseconds()) / baseRuns

	b.ReportAllocs()
	b.SetBytes(int64(len(plan)))
	for b.Loop() {
		if _, err := c.Check(ctx, plan); err != nil {
			b.Fatal(err)
		}
	}
	checkNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(baseNs, "unmarshal-ns/op")
	b.ReportMetric(checkNs/baseNs, "ratio")
}
