package main

import (
	"github.com/atollhq/atoll/cluster"
	lockredis "github.com/atollhq/atoll/locking/redis"
	"github.com/atollhq/atoll/server"
)

// The server finds a PR mutex's lease and a store's fencing through optional
// interfaces (type assertions). These make a drift in either signature a
// compile error instead of replicas that silently neither stop on a lost
// lease nor fence their writes.
var (
	_ server.PullLeaser   = (*cluster.Mutex)(nil)
	_ server.FenceChecker = (*lockredis.Store)(nil)
)
