package cluster_test

import (
	"context"
	"testing"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/store"
	"webcallback/internal/wcbproto"
)

// TestLostInstanceAndNode: an instance died with calls on a PBX node that
// died too (no instance is connected to it, so ClaimOrphans never claims
// them). Real rows in the shared database: the dead instance's expired
// lease and its unfinished requests, last changed an hour ago (longer than
// the longest call the live instances' settings allow, plus the lease
// TTL). Two live instances on another node sweep: each old call is
// claimed once and finished without AMI: the one whose CDR rows the PBX
// wrote from them, the others failed / pbx_lost with the talk until the
// dead owner's last lease renewal; their service-wide slot is freed. A
// request of the same dead instance changed just now is left alone: its
// call may still be up somewhere.
func TestLostInstanceAndNode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st := openMigrated(t, dsn)
		run := runID(t)
		dead, node := "dead-"+run, "lost-"+run+":5038"
		t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
		// Its last renewal was at t0+54s: the lease ran out at t0+60s.
		if err := st.RenewLease(ctx, dead, node, t0.Add(60*time.Second)); err != nil {
			t.Fatal(err)
		}
		// Its calls: one talking since t0+40s (14 s until the last
		// renewal), one ringing the callee, one whose end the PBX wrote
		// into the cdr table (a 12 s talk) and, changed just now, one
		// talking that may still be up.
		put := func(callee string, s callback.State, at time.Time) *callback.Request {
			t.Helper()
			r := &callback.Request{ID: "lost-" + run + "-" + callee, Caller: "+8613800001001", Callee: "+86" + callee,
				CallerDial: "13800001001", CalleeDial: callee, Lang: "en", State: callback.StateQueued, CreatedAt: t0,
				History: []callback.Transition{{State: callback.StateQueued, At: t0}}}
			if d, err := st.Admit(ctx, r, nil, t0); err != nil || !d.Allowed {
				t.Fatalf("admit: %v %+v", err, d)
			}
			r.Instance, r.Node = dead, node
			for _, step := range []struct {
				s  callback.State
				at time.Time
			}{{callback.StateCallingCaller, t0.Add(time.Second)}, {callback.StateCallerAnswered, t0.Add(5 * time.Second)},
				{callback.StateCallingCallee, t0.Add(10 * time.Second)}, {callback.StateConnected, at}} {
				if step.s == callback.StateConnected && s != callback.StateConnected {
					break
				}
				r.State, r.UpdatedAt = step.s, step.at
				r.History = append(r.History, callback.Transition{State: step.s, At: step.at})
				if step.s == callback.StateCallerAnswered {
					a := step.at
					r.AnsweredAt = &a
				}
			}
			if s == callback.StateConnected {
				c := at
				r.ConnectedAt = &c
			}
			if err := st.UpdateRequest(ctx, r); err != nil {
				t.Fatal(err)
			}
			if _, err := st.AcquireCapacity(ctx, node, r.ID, 10, 0, t0); err != nil {
				t.Fatal(err)
			}
			return r
		}
		talking := put("13800002001", callback.StateConnected, t0.Add(40*time.Second))
		ringing := put("13822221002", callback.StateCallingCallee, t0)
		ended := put("13800002003", callback.StateConnected, t0.Add(20*time.Second))
		young := put("13800002004", callback.StateConnected, time.Now())
		talk := 12
		for _, c := range []store.CDR{
			{CallDate: t0.Add(time.Second), Src: "13800001001", Dst: "13800002003", DContext: "webcallback", Channel: "PJSIP/gateway-1",
				DstChannel: "PJSIP/gateway-2", LastApp: "Dial", Duration: 32, Billsec: 27, Disposition: "ANSWERED",
				UniqueID: ended.ID, LinkedID: ended.ID, Sequence: 1, TalkSec: &talk},
			{CallDate: t0.Add(time.Second), Src: "13800001001", Dst: "s", DContext: "webcallback", Channel: "PJSIP/gateway-1",
				LastApp: "Playback", Duration: 35, Billsec: 30, Disposition: "ANSWERED", UniqueID: ended.ID, LinkedID: ended.ID,
				Sequence: 2, UserField: wcbproto.UserfieldPrefix + "16;" + wcbproto.UserfieldIDPrefix + ended.ID},
		} {
			if err := st.WritePBXCDR(ctx, &c); err != nil {
				t.Fatal(err)
			}
		}

		// Two live instances, on a node of their own (the sandbox PBX).
		insts := startInstances(t, 2, dsn, startPBX(t, 0.01), "--caller-ring", "30s", "--callee-ring", "30s")
		check := func(id string, s callback.State, reason callback.Reason, billsec int) {
			t.Helper()
			waitFinal(t, insts[0].URL, id)
			got, err := st.GetRequest(ctx, id) // the API does not show the owner
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s/%s billsec %d, owner %s", id, got.State, got.Reason, got.Billsec, got.Instance)
			if got.State != s || got.Reason != reason || got.Billsec != billsec {
				t.Errorf("%s: %s/%s billsec %d, want %s/%s billsec %d", id, got.State, got.Reason, got.Billsec, s, reason, billsec)
			}
			if got.Instance != insts[0].Settings.Instance && got.Instance != insts[1].Settings.Instance {
				t.Errorf("%s: finished by %q, not a live instance", id, got.Instance)
			}
			finals := 0
			for _, h := range got.History {
				if h.State.Final() {
					finals++
				}
			}
			if finals != 1 {
				t.Errorf("%s: %d final transitions, want 1: %+v", id, finals, got.History)
			}
		}
		check(talking.ID, callback.StateFailed, callback.ReasonPBXLost, 14)
		check(ringing.ID, callback.StateFailed, callback.ReasonPBXLost, 0)
		check(ended.ID, callback.StateCompleted, callback.ReasonCalleeHangup, 12)

		// The sweep that claimed those saw the young one and left it.
		got, err := st.GetRequest(ctx, young.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State.Final() || got.Instance != dead {
			t.Errorf("young call of the dead instance: %s, owner %s; want it left to its node's instances", got.State, got.Instance)
		}
		// The slots of the finished calls are freed (by the engine, or by
		// the store's sweep of final requests): only the young one's is left.
		deadline := time.Now().Add(30 * time.Second)
		for {
			ns, err := st.NodeStates(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ns[node].Slots == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s: %d capacity slots held, want 1 (the young call's)", node, ns[node].Slots)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
