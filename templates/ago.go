package templates

import (
	"fmt"
	"time"
)

// Ago says how long before now t was, for people: "just now", "1 minute ago",
// "3 minutes ago", "2 hours ago", "5 days ago", "3 weeks ago", "4 months ago",
// "2 years ago". Times less than a minute away, or in the future (clock skew),
// are "just now"; a zero t is "at an unknown time". Amounts are rounded down.
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	d := now.Sub(t)
	const day = 24 * time.Hour
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < day:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 14*day:
		return plural(int(d/day), "day") + " ago"
	case d < 60*day:
		return plural(int(d/(7*day)), "week") + " ago"
	case d < 365*day:
		return plural(int(d/(30*day)), "month") + " ago"
	default:
		return plural(int(d/(365*day)), "year") + " ago"
	}
}

// plural returns "1 thing" or "N things".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
