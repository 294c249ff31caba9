package cluster

import (
	"context"
	"testing"
	"time"
)

// TestCancelBoard: a mark one replica puts is read by another (a second
// client), replaced by a later put, and expires.
func TestCancelBoard(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	a := NewCancelBoard(rdb, "tc:", 0)
	b := NewCancelBoard(rdb, "tc:", 0)
	if _, ok, err := b.GetCancel(ctx, "job1"); err != nil || ok {
		t.Fatalf("GetCancel of an unmarked job = %v, %v; want none", ok, err)
	}
	if err := a.PutCancel(ctx, "job1", []byte(`{"by":"alice"}`)); err != nil {
		t.Fatal(err)
	}
	got, ok, err := b.GetCancel(ctx, "job1")
	if err != nil || !ok || string(got) != `{"by":"alice"}` {
		t.Fatalf("GetCancel = %q, %v, %v; want alice's mark", got, ok, err)
	}
	if err := b.PutCancel(ctx, "job1", []byte(`{"by":"alice","ack":{}}`)); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := a.GetCancel(ctx, "job1"); string(got) != `{"by":"alice","ack":{}}` {
		t.Fatalf("after the ack GetCancel = %q", got)
	}
	if _, ok, _ := NewCancelBoard(rdb, "other:", 0).GetCancel(ctx, "job1"); ok {
		t.Error("a board with another prefix sees the mark")
	}
	short := NewCancelBoard(rdb, "tc:", 200*time.Millisecond)
	if err := short.PutCancel(ctx, "job2", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok, _ := short.GetCancel(ctx, "job2"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the mark did not expire")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
