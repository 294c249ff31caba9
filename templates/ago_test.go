package templates

import (
	"testing"
	"time"
)

func TestAgo(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"},
		{59 * time.Second, "just now"},
		{-5 * time.Minute, "just now"},
		{time.Minute, "1 minute ago"},
		{3*time.Minute + 59*time.Second, "3 minutes ago"},
		{59 * time.Minute, "59 minutes ago"},
		{time.Hour, "1 hour ago"},
		{2*time.Hour + 5*time.Minute, "2 hours ago"},
		{23 * time.Hour, "23 hours ago"},
		{day, "1 day ago"},
		{5 * day, "5 days ago"},
		{13 * day, "13 days ago"},
		{14 * day, "2 weeks ago"},
		{59 * day, "8 weeks ago"},
		{60 * day, "2 months ago"},
		{364 * day, "12 months ago"},
		{365 * day, "1 year ago"},
		{800 * day, "2 years ago"},
	}
	for _, tc := range tests {
		if got := Ago(now, now.Add(-tc.d)); got != tc.want {
			t.Errorf("Ago(now, now-%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	if got := Ago(now, time.Time{}); got != "at an unknown time" {
		t.Errorf("Ago(now, zero) = %q, want %q", got, "at an unknown time")
	}
}
