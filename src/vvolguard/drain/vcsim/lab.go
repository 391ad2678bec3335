// Lab mode (-lab FILE): the vCenter of `vvolguard lab`, built from a scenario the Python
// simulator ran (src/vvolguard/lab/spec.py writes the file; docs/lab.md is the contract).
//
// What govmomi 0.24.2 lacks and this file adds, as pyVmomi calls it:
//
//   - task history: TaskManager.CreateCollectorForTasks and a TaskHistoryCollector (ReadNextTasks,
//     ReadPreviousTasks, RewindCollector, ResetCollector, SetCollectorPageSize, DestroyCollector,
//     latestPage) over the scenario's tasks and every task run since, filtered by entity (with
//     recursion), time (queued/started/completed), user, state and event chain;
//   - event history: the simulator's EventHistoryCollector pages only its latest page and ignores
//     the time and user filters, so CreateCollectorForEvents and QueryEvents are answered here
//     (same paging as tasks) over the scenario's events and every event posted since;
//   - an SMS endpoint (/sms/sdk, pyVmomi's `sms` bindings): ServiceInstance.QueryStorageManager,
//     QueryAboutInfo, StorageManager.QueryProvider / QueryArray, Provider.QueryProviderInfo with
//     status, statusFault, certificate and related arrays;
//   - the vVol datastore with its storage container, Protocol Endpoints per host (vvolDS.hostPE)
//     and per-host mount accessibility, and each host's PE as a SCSI LUN (protocolEndpoint=true)
//     whose operationalState says whether the host reaches it;
//   - DiagnosticManager.QueryDescriptions / BrowseDiagnosticLog for each host's vvold, hostd and
//     vmkernel logs (the files the SSH endpoint serves), for clients without SSH;
//   - logins: the lab user, and with missing privileges a second, limited user (credentials from
//     the environment: VVOLGUARD_VCSIM_USER/_PASSWORD, VVOLGUARD_VCSIM_LIMITED_USER/_PASSWORD);
//   - fault knobs: SMS down (HTTP 503 on /sms/sdk) and the privileges the limited user lacks (the
//     calls that need them answer NoPermission; AuthorizationManager answers accordingly).
//
// The vCenter's EventManager and SessionManager must stay the simulator's own objects (the
// simulator type-asserts them), so the two event-history calls reach our object through the
// HTTP handler, which points their _this at it; every other lab object is a registry object.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	smsmethods "github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// ---------------------------------------------------------------------------------------------
// The spec file
// ---------------------------------------------------------------------------------------------

type labHost struct {
	Name      string `json:"name"`
	VvoldPid  int    `json:"vvoldPid"`
	PeState   string `json:"peState"`   // ok | inaccessible | missing
	Datastore string `json:"datastore"` // vVol datastore mounted (empty: none)
}

type labVM struct {
	Name      string `json:"name"`
	Host      string `json:"host"`
	PoweredOn bool   `json:"poweredOn"`
}

type labFault struct {
	Type    string `json:"type"`    // vim fault type name, e.g. SystemError
	Message string `json:"message"` // localizedMessage
	Reason  string `json:"reason"`  // the fault's reason field where it has one
}

type labTask struct {
	Key           string     `json:"key"`
	Name          string     `json:"name"`
	DescriptionID string     `json:"descriptionId"`
	EntityType    string     `json:"entityType"`
	Entity        string     `json:"entity"`
	State         string     `json:"state"`
	Queued        time.Time  `json:"queued"`
	Started       *time.Time `json:"started"`
	Completed     *time.Time `json:"completed"`
	User          string     `json:"user"` // empty or "System": a system task
	ChainID       int32      `json:"chainId"`
	Error         *labFault  `json:"error"`
	Hosts         []string   `json:"hosts"` // hosts the task touched (source, destination)
}

type labEvent struct {
	Type       string    `json:"type"`
	Created    time.Time `json:"created"`
	User       string    `json:"user"`
	ChainID    int32     `json:"chainId"`
	VM         string    `json:"vm"`
	Host       string    `json:"host"`
	SourceHost string    `json:"sourceHost"`
	DestHost   string    `json:"destHost"`
	Datastore  string    `json:"datastore"`
	Message    string    `json:"message"`
	Reason     *labFault `json:"reason"`
	Task       string    `json:"task"` // TaskEvent: key of the task in "tasks"
}

type labArray struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	VendorID string `json:"vendorId"`
	ModelID  string `json:"modelId"`
	Firmware string `json:"firmware"`
	Active   bool   `json:"active"`
	Priority int32  `json:"priority"`
}

type labProvider struct {
	UID                   string     `json:"uid"`
	Name                  string     `json:"name"`
	URL                   string     `json:"url"`
	Version               string     `json:"version"`
	VasaVersion           string     `json:"vasaVersion"`
	Status                string     `json:"status"` // online | offline | syncError | ...
	StatusFault           *labFault  `json:"statusFault"`
	Certificate           string     `json:"certificate"` // PEM
	CertificateExpiryDate string     `json:"certificateExpiryDate"`
	CertificateStatus     string     `json:"certificateStatus"`
	LastSyncTime          string     `json:"lastSyncTime"`
	ProviderID            string     `json:"providerId"`
	Arrays                []labArray `json:"arrays"`
}

type labStorage struct {
	Datastore   string `json:"datastore"`
	URL         string `json:"url"`
	ContainerID string `json:"containerId"` // scId
	Capacity    int64  `json:"capacity"`
	Free        int64  `json:"free"`
	PeID        string `json:"peId"` // naa. id of the block PE
	ArrayID     string `json:"arrayId"`
}

type labKnobs struct {
	SmsDown           bool     `json:"smsDown"`
	MissingPrivileges []string `json:"missingPrivileges"`
}

type labSpec struct {
	Hosts []labHost `json:"hosts"`
	VMs   []labVM   `json:"vms"`
	Vvold struct {
		Shape     string `json:"shape"`
		Provider  string `json:"provider"`
		URL       string `json:"url"`
		Container string `json:"container"`
	} `json:"vvold"`
	Tasks     []labTask     `json:"tasks"`
	Events    []labEvent    `json:"events"`
	Providers []labProvider `json:"providers"`
	Storage   labStorage    `json:"storage"`
	Knobs     labKnobs      `json:"knobs"`
}

func loadLabSpec(path string) (*labSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lab spec: %w", err)
	}
	spec := &labSpec{}
	if err := json.Unmarshal(data, spec); err != nil {
		return nil, fmt.Errorf("lab spec %s: %w", path, err)
	}
	if len(spec.Hosts) < 2 {
		return nil, fmt.Errorf("lab spec %s: needs at least 2 hosts", path)
	}
	return spec, nil
}

// peUnreachable: hosts whose Protocol Endpoint is missing or not accessible; a VM moved there
// fails after its vVols were created and bound (the data path, KB 409865).
var peUnreachable = map[string]bool{}

// applyVvold makes the relocations' vvold lines name the scenario's provider, in its shape.
func (s *labSpec) applyVvold() {
	if s.Vvold.Shape != "" {
		vvoldShape = s.Vvold.Shape
	}
	if s.Vvold.Provider != "" {
		vasaProvider = s.Vvold.Provider
	}
	if s.Vvold.URL != "" {
		vasaURL = s.Vvold.URL
	}
	if s.Vvold.Container != "" {
		vasaContainer = s.Vvold.Container
	}
	vvoldPath = func(dir, short string) string { return filepath.Join(dir, short, "var", "run", "log", "vvold.log") }
	for _, h := range s.Hosts {
		if h.PeState != "" && h.PeState != "ok" {
			peUnreachable[h.Name] = true
		}
		if h.VvoldPid > 0 {
			vvoldPids[h.Name] = h.VvoldPid
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Inventory lookups
// ---------------------------------------------------------------------------------------------

func entityByName(kind, name string) *types.ManagedObjectReference {
	for _, e := range simulator.Map.All(kind) {
		if e.Entity().Name == name {
			ref := e.Reference()
			return &ref
		}
	}
	return nil
}

// ancestors returns the entity's parents up to the root folder, and for a VM also its host and
// the host's parents (the Hosts and Clusters view vCenter filters "children" by).
func ancestors(ref types.ManagedObjectReference) map[types.ManagedObjectReference]bool {
	out := map[types.ManagedObjectReference]bool{}
	var walk func(r types.ManagedObjectReference, depth int)
	walk = func(r types.ManagedObjectReference, depth int) {
		if depth > 32 {
			return
		}
		obj := simulator.Map.Get(r)
		me, ok := obj.(mo.Entity)
		if !ok {
			return
		}
		var parents []types.ManagedObjectReference
		simulator.Map.WithLock(obj, func() {
			if p := me.Entity().Parent; p != nil {
				parents = append(parents, *p)
			}
			switch v := obj.(type) {
			case *drainVM:
				if v.Runtime.Host != nil {
					parents = append(parents, *v.Runtime.Host)
				}
				if v.ResourcePool != nil {
					parents = append(parents, *v.ResourcePool)
				}
			case *simulator.VirtualMachine:
				if v.Runtime.Host != nil {
					parents = append(parents, *v.Runtime.Host)
				}
			}
		})
		for _, p := range parents {
			if !out[p] {
				out[p] = true
				walk(p, depth+1)
			}
		}
	}
	walk(ref, 0)
	return out
}

func serviceContent() types.ServiceContent {
	ref := types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}
	return simulator.Map.Get(ref).(*simulator.ServiceInstance).Content
}

// entityMatch applies a filter's entity and recursion to the entities an item concerns.
func entityMatch(filter types.ManagedObjectReference, recursion string, concerned []types.ManagedObjectReference) bool {
	if filter == serviceContent().RootFolder && recursion != "self" {
		return true
	}
	for _, c := range concerned {
		if c == filter && recursion != "children" {
			return true
		}
		if recursion == "self" {
			continue
		}
		anc := ancestors(c)
		if anc[filter] {
			if recursion == "children" {
				// Direct children only.
				if obj, ok := simulator.Map.Get(c).(mo.Entity); ok {
					if p := obj.Entity().Parent; p != nil && *p == filter {
						return true
					}
				}
				continue
			}
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------------------------
// History: one paging model for tasks and events (vSphere API HistoryCollector semantics)
// ---------------------------------------------------------------------------------------------

// historyPaging is what every history collector shares: its lock, its position over its
// (growing, oldest-first) list of matching items, its page size, and the collector methods that
// need no items. Created rewound (ReadNext* starts at the oldest item, as vCenter's collectors
// do); the latest page is the newest pageSize items, newest first.
type historyPaging struct {
	mu       sync.Mutex
	pos      int
	pageSize int
	count    func() int // matching items now
}

func nextPage[T any](p *historyPaging, items []T, max int32) ([]T, *soap.Fault) {
	if max <= 0 {
		return nil, simulator.Fault("", &types.InvalidArgument{InvalidProperty: "maxCount"})
	}
	start := p.pos
	if start > len(items) {
		start = len(items)
	}
	end := start + int(max)
	if end > len(items) {
		end = len(items)
	}
	p.pos = end
	return items[start:end], nil
}

// previousPage reads backwards from the position, newest first.
func previousPage[T any](p *historyPaging, items []T, max int32) ([]T, *soap.Fault) {
	if max <= 0 {
		return nil, simulator.Fault("", &types.InvalidArgument{InvalidProperty: "maxCount"})
	}
	end := p.pos
	if end > len(items) {
		end = len(items)
	}
	start := end - int(max)
	if start < 0 {
		start = 0
	}
	p.pos = start
	return reversed(items[start:end]), nil
}

func latestPage[T any](p *historyPaging, items []T) []T {
	start := len(items) - p.pageSize
	if start < 0 {
		start = 0
	}
	return reversed(items[start:])
}

func reversed[T any](items []T) []T {
	out := make([]T, 0, len(items))
	for i := len(items) - 1; i >= 0; i-- {
		out = append(out, items[i])
	}
	return out
}

func (p *historyPaging) RewindCollector(ctx *simulator.Context, req *types.RewindCollector) soap.HasFault {
	p.mu.Lock()
	p.pos = 0
	p.mu.Unlock()
	return &methods.RewindCollectorBody{Res: new(types.RewindCollectorResponse)}
}

// ResetCollector moves to just before the latest page (ReadPrevious* then reads what is older).
func (p *historyPaging) ResetCollector(ctx *simulator.Context, req *types.ResetCollector) soap.HasFault {
	p.mu.Lock()
	p.pos = p.count() - p.pageSize
	if p.pos < 0 {
		p.pos = 0
	}
	p.mu.Unlock()
	return &methods.ResetCollectorBody{Res: new(types.ResetCollectorResponse)}
}

func (p *historyPaging) SetCollectorPageSize(ctx *simulator.Context, req *types.SetCollectorPageSize) soap.HasFault {
	body := &methods.SetCollectorPageSizeBody{}
	size, fault := pageSizeOf(req.MaxCount)
	if fault != nil {
		body.Fault_ = fault
		return body
	}
	p.mu.Lock()
	p.pageSize = size
	p.mu.Unlock()
	body.Res = new(types.SetCollectorPageSizeResponse)
	return body
}

func (p *historyPaging) DestroyCollector(ctx *simulator.Context, req *types.DestroyCollector) soap.HasFault {
	ctx.Session.Remove(req.This)
	return &methods.DestroyCollectorBody{Res: new(types.DestroyCollectorResponse)}
}

func pageSizeOf(n int32) (int, *soap.Fault) {
	if n == 0 {
		return 10, nil
	}
	if n < 0 || n > 1000 {
		return 0, simulator.Fault("", &types.InvalidArgument{InvalidProperty: "maxCount"})
	}
	return int(n), nil
}

// ----- tasks -----

type taskStore struct {
	mu    sync.Mutex
	tasks []*simulator.Task // oldest first: the seeded history, then each task as it is created
}

var tasks = &taskStore{}

func (s *taskStore) PutObject(obj mo.Reference) {
	if t, ok := obj.(*simulator.Task); ok {
		s.mu.Lock()
		s.tasks = append(s.tasks, t)
		s.mu.Unlock()
	}
}
func (s *taskStore) UpdateObject(mo.Reference, []types.PropertyChange) {}
func (s *taskStore) RemoveObject(types.ManagedObjectReference)         {}
func (s *taskStore) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "VvolguardTaskStore", Value: "task-store"}
}

// relatedHosts: hosts a seeded task touched (its entity may since have moved).
var relatedHosts = map[string][]types.ManagedObjectReference{}

func (s *taskStore) infos() []types.TaskInfo {
	s.mu.Lock()
	list := append([]*simulator.Task(nil), s.tasks...)
	s.mu.Unlock()
	out := make([]types.TaskInfo, 0, len(list))
	for _, t := range list {
		var info types.TaskInfo
		simulator.Map.WithLock(t, func() { info = t.Info })
		out = append(out, info)
	}
	return out
}

func taskUser(info types.TaskInfo) (string, bool) {
	if r, ok := info.Reason.(*types.TaskReasonUser); ok {
		return r.UserName, false
	}
	return "", true
}

func taskMatches(info types.TaskInfo, f *types.TaskFilterSpec) bool {
	if f.Entity != nil {
		var concerned []types.ManagedObjectReference
		if info.Entity != nil {
			concerned = append(concerned, *info.Entity)
		}
		if f.Entity.Recursion != types.TaskFilterSpecRecursionOptionSelf {
			// A migration concerns the hosts it ran between, where the VM was at the time.
			concerned = append(concerned, relatedHosts[info.Key]...)
		}
		if !entityMatch(f.Entity.Entity, string(f.Entity.Recursion), concerned) {
			return false
		}
	}
	if f.Time != nil {
		var when *time.Time
		switch f.Time.TimeType {
		case types.TaskFilterSpecTimeOptionStartedTime:
			when = info.StartTime
		case types.TaskFilterSpecTimeOptionCompletedTime:
			when = info.CompleteTime
		default:
			q := info.QueueTime
			when = &q
		}
		if when == nil {
			return false
		}
		if f.Time.BeginTime != nil && when.Before(*f.Time.BeginTime) {
			return false
		}
		if f.Time.EndTime != nil && when.After(*f.Time.EndTime) {
			return false
		}
	}
	if f.UserName != nil {
		user, system := taskUser(info)
		ok := system && f.UserName.SystemUser
		for _, u := range f.UserName.UserList {
			if !system && strings.EqualFold(u, user) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if len(f.State) > 0 {
		ok := false
		for _, st := range f.State {
			ok = ok || st == info.State
		}
		if !ok {
			return false
		}
	}
	if len(f.EventChainId) > 0 {
		ok := false
		for _, c := range f.EventChainId {
			ok = ok || c == info.EventChainId
		}
		if !ok {
			return false
		}
	}
	return true
}

type labTaskCollector struct {
	mo.TaskHistoryCollector
	historyPaging
	filter types.TaskFilterSpec
}

func (c *labTaskCollector) items() []types.TaskInfo {
	var out []types.TaskInfo
	for _, info := range tasks.infos() {
		if taskMatches(info, &c.filter) {
			out = append(out, info)
		}
	}
	return out
}

// Get refreshes latestPage for the property collector.
func (c *labTaskCollector) Get() mo.Reference {
	c.mu.Lock()
	defer c.mu.Unlock()
	clone := c.TaskHistoryCollector
	clone.LatestPage = latestPage(&c.historyPaging, c.items())
	clone.Filter = c.filter
	return &clone
}

func (c *labTaskCollector) ReadNextTasks(ctx *simulator.Context, req *types.ReadNextTasks) soap.HasFault {
	c.mu.Lock()
	defer c.mu.Unlock()
	page, fault := nextPage(&c.historyPaging, c.items(), req.MaxCount)
	if fault != nil {
		return &methods.ReadNextTasksBody{Fault_: fault}
	}
	return &methods.ReadNextTasksBody{Res: &types.ReadNextTasksResponse{Returnval: page}}
}

func (c *labTaskCollector) ReadPreviousTasks(ctx *simulator.Context, req *types.ReadPreviousTasks) soap.HasFault {
	c.mu.Lock()
	defer c.mu.Unlock()
	page, fault := previousPage(&c.historyPaging, c.items(), req.MaxCount)
	if fault != nil {
		return &methods.ReadPreviousTasksBody{Fault_: fault}
	}
	return &methods.ReadPreviousTasksBody{Res: &types.ReadPreviousTasksResponse{Returnval: page}}
}

// labTaskManager replaces the simulator's TaskManager (which nothing type-asserts) to add
// CreateCollectorForTasks; recentTask and description still come from the original.
type labTaskManager struct {
	mo.TaskManager
	inner *simulator.TaskManager
}

func (m *labTaskManager) Get() mo.Reference {
	clone := m.TaskManager
	m.inner.Lock()
	clone.RecentTask = append([]types.ManagedObjectReference(nil), m.inner.RecentTask...)
	clone.Description = m.inner.Description
	m.inner.Unlock()
	return &clone
}

func (m *labTaskManager) CreateCollectorForTasks(ctx *simulator.Context, req *types.CreateCollectorForTasks) soap.HasFault {
	body := &methods.CreateCollectorForTasksBody{}
	c := &labTaskCollector{filter: req.Filter}
	c.pageSize = 10
	c.count = func() int { return len(c.items()) }
	c.Self = types.ManagedObjectReference{Type: "TaskHistoryCollector"}
	ref := ctx.Session.Put(c).Reference()
	body.Res = &types.CreateCollectorForTasksResponse{Returnval: ref}
	return body
}

// ----- events -----

type eventStore struct {
	mu     sync.Mutex
	events []types.BaseEvent // oldest first
	seen   map[types.BaseEvent]bool
	key    int32
}

var events = &eventStore{seen: map[types.BaseEvent]bool{}}

// sync appends, in key order, the events the simulator posted since the last call (its own
// ring keeps the last 1000), renumbered after the seeded history.
func (s *eventStore) sync() {
	em := simulator.Map.EventManager()
	session := &simulator.Session{UserSession: types.UserSession{UserName: "vvolguard-lab"}, Registry: simulator.NewRegistry()}
	ctx := &simulator.Context{Context: context.Background(), Session: session, Map: simulator.Map}
	var live []types.BaseEvent
	simulator.Map.WithLock(em, func() {
		res := em.QueryEvents(ctx, &types.QueryEvents{Filter: types.EventFilterSpec{MaxCount: 1000}})
		if body, ok := res.(*methods.QueryEventsBody); ok && body.Res != nil {
			live = body.Res.Returnval
		}
	})
	sort.SliceStable(live, func(i, j int) bool { return live[i].GetEvent().Key < live[j].GetEvent().Key })
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range live {
		if s.seen[e] {
			continue
		}
		s.seen[e] = true
		s.key++
		ev := e.GetEvent()
		if ev.ChainId == ev.Key {
			ev.ChainId = s.key
		}
		ev.Key = s.key
		s.events = append(s.events, e)
	}
}

// markSeen forgets what the simulator posted while the lab was being built (VM creation,
// power-on): the history starts with the scenario.
func (s *eventStore) markSeen() {
	s.sync()
	s.mu.Lock()
	s.events = s.events[:0]
	s.mu.Unlock()
}

func (s *eventStore) all() []types.BaseEvent {
	s.sync()
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]types.BaseEvent(nil), s.events...)
}

func eventEntities(e types.BaseEvent) []types.ManagedObjectReference {
	ev := e.GetEvent()
	var out []types.ManagedObjectReference
	if ev.Vm != nil {
		out = append(out, ev.Vm.Vm)
	}
	if ev.Host != nil {
		out = append(out, ev.Host.Host)
	}
	if ev.Ds != nil {
		out = append(out, ev.Ds.Datastore)
	}
	if ev.ComputeResource != nil {
		out = append(out, ev.ComputeResource.ComputeResource)
	}
	if ev.Datacenter != nil {
		out = append(out, ev.Datacenter.Datacenter)
	}
	switch v := e.(type) {
	case *types.VmMigratedEvent:
		out = append(out, v.SourceHost.Host)
	case *types.VmFailedMigrateEvent:
		out = append(out, v.DestHost.Host)
	}
	return out
}

func eventMatches(e types.BaseEvent, f *types.EventFilterSpec) bool {
	ev := e.GetEvent()
	if f.Entity != nil && !entityMatch(f.Entity.Entity, string(f.Entity.Recursion), eventEntities(e)) {
		return false
	}
	if f.Time != nil {
		if f.Time.BeginTime != nil && ev.CreatedTime.Before(*f.Time.BeginTime) {
			return false
		}
		if f.Time.EndTime != nil && ev.CreatedTime.After(*f.Time.EndTime) {
			return false
		}
	}
	if f.UserName != nil {
		ok := ev.UserName == "" && f.UserName.SystemUser
		for _, u := range f.UserName.UserList {
			ok = ok || (ev.UserName != "" && strings.EqualFold(u, ev.UserName))
		}
		if !ok {
			return false
		}
	}
	if f.EventChainId != 0 && f.EventChainId != ev.ChainId {
		return false
	}
	names := append(append([]string(nil), f.EventTypeId...), f.Type...)
	if len(names) > 0 && !eventTypeMatches(e, names) {
		return false
	}
	if len(f.Category) > 0 {
		category := eventCategory(e)
		ok := false
		for _, c := range f.Category {
			ok = ok || c == category
		}
		if !ok {
			return false
		}
	}
	return true
}

// eventTypeMatches: the concrete type or any type it embeds (VmEvent matches VmMigratedEvent).
func eventTypeMatches(e types.BaseEvent, names []string) bool {
	want := map[string]bool{}
	for _, n := range names {
		want[strings.TrimPrefix(n, "vim.event.")] = true
	}
	t := reflect.TypeOf(e).Elem()
	for {
		if want[t.Name()] {
			return true
		}
		if t.Kind() != reflect.Struct || t.NumField() == 0 || !t.Field(0).Anonymous {
			return false
		}
		t = t.Field(0).Type
	}
}

func eventCategory(e types.BaseEvent) string {
	name := reflect.TypeOf(e).Elem().Name()
	for _, info := range simulator.Map.EventManager().Description.EventInfo {
		if info.Key == name {
			return info.Category
		}
	}
	return "info"
}

type labEventCollector struct {
	mo.EventHistoryCollector
	historyPaging
	filter types.EventFilterSpec
}

func (c *labEventCollector) items() []types.BaseEvent {
	var out []types.BaseEvent
	for _, e := range events.all() {
		if eventMatches(e, &c.filter) {
			out = append(out, e)
		}
	}
	return out
}

func (c *labEventCollector) Get() mo.Reference {
	c.mu.Lock()
	defer c.mu.Unlock()
	clone := c.EventHistoryCollector
	clone.LatestPage = latestPage(&c.historyPaging, c.items())
	clone.Filter = c.filter
	return &clone
}

func (c *labEventCollector) ReadNextEvents(ctx *simulator.Context, req *types.ReadNextEvents) soap.HasFault {
	c.mu.Lock()
	defer c.mu.Unlock()
	page, fault := nextPage(&c.historyPaging, c.items(), req.MaxCount)
	if fault != nil {
		return &methods.ReadNextEventsBody{Fault_: fault}
	}
	return &methods.ReadNextEventsBody{Res: &types.ReadNextEventsResponse{Returnval: page}}
}

func (c *labEventCollector) ReadPreviousEvents(ctx *simulator.Context, req *types.ReadPreviousEvents) soap.HasFault {
	c.mu.Lock()
	defer c.mu.Unlock()
	page, fault := previousPage(&c.historyPaging, c.items(), req.MaxCount)
	if fault != nil {
		return &methods.ReadPreviousEventsBody{Fault_: fault}
	}
	return &methods.ReadPreviousEventsBody{Res: &types.ReadPreviousEventsResponse{Returnval: page}}
}

// labEventManager answers the two event-history calls (reached through labHandler).
type labEventManager struct {
	mo.EventManager
}

var labEventManagerRef = types.ManagedObjectReference{Type: "EventManager", Value: "VvolguardLabEventManager"}

func (m *labEventManager) CreateCollectorForEvents(ctx *simulator.Context, req *types.CreateCollectorForEvents) soap.HasFault {
	body := &methods.CreateCollectorForEventsBody{}
	size, fault := pageSizeOf(req.Filter.MaxCount)
	if fault != nil {
		body.Fault_ = fault
		return body
	}
	c := &labEventCollector{filter: req.Filter}
	c.pageSize = size
	c.count = func() int { return len(c.items()) }
	c.Self = types.ManagedObjectReference{Type: "EventHistoryCollector"}
	ref := ctx.Session.Put(c).Reference()
	body.Res = &types.CreateCollectorForEventsResponse{Returnval: ref}
	return body
}

func (m *labEventManager) QueryEvents(ctx *simulator.Context, req *types.QueryEvents) soap.HasFault {
	limit := int(req.Filter.MaxCount)
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var out []types.BaseEvent
	all := events.all()
	// Newest first, as vCenter answers QueryEvents.
	for i := len(all) - 1; i >= 0 && len(out) < limit; i-- {
		if eventMatches(all[i], &req.Filter) {
			out = append(out, all[i])
		}
	}
	return &methods.QueryEventsBody{Res: &types.QueryEventsResponse{Returnval: out}}
}

// ---------------------------------------------------------------------------------------------
// Seeding the scenario's history
// ---------------------------------------------------------------------------------------------

// faultOf builds the vim fault named in the spec (SystemError, InvalidState, ...).
func faultOf(f *labFault) *types.LocalizedMethodFault {
	if f == nil {
		return nil
	}
	var fault types.BaseMethodFault = &types.SystemError{Reason: f.Reason}
	if t, ok := types.TypeFunc()(f.Type); ok && f.Type != "SystemError" {
		if v, ok := reflect.New(t).Interface().(types.BaseMethodFault); ok {
			if r := reflect.ValueOf(v).Elem().FieldByName("Reason"); r.IsValid() && r.Kind() == reflect.String {
				r.SetString(f.Reason)
			}
			fault = v
		}
	}
	return &types.LocalizedMethodFault{Fault: fault, LocalizedMessage: f.Message}
}

func entityRef(kind, name string) *types.ManagedObjectReference {
	if name == "" {
		return nil
	}
	return entityByName(kind, name)
}

func seedTasks(spec *labSpec) map[string]types.TaskInfo {
	byKey := map[string]types.TaskInfo{}
	for _, t := range spec.Tasks {
		kind := t.EntityType
		if kind == "" {
			kind = "VirtualMachine"
		}
		info := types.TaskInfo{
			Key:           t.Key,
			Task:          types.ManagedObjectReference{Type: "Task", Value: t.Key},
			Name:          t.Name,
			DescriptionId: t.DescriptionID,
			Entity:        entityRef(kind, t.Entity),
			EntityName:    t.Entity,
			State:         types.TaskInfoState(t.State),
			QueueTime:     t.Queued,
			StartTime:     t.Started,
			CompleteTime:  t.Completed,
			EventChainId:  t.ChainID,
			Error:         faultOf(t.Error),
		}
		if t.User != "" && t.User != "System" {
			info.Reason = &types.TaskReasonUser{UserName: t.User}
		} else {
			info.Reason = &types.TaskReasonSystem{}
		}
		if info.State == types.TaskInfoStateSuccess {
			info.Progress = 100
		}
		for _, h := range t.Hosts {
			if ref := entityRef("HostSystem", h); ref != nil {
				relatedHosts[t.Key] = append(relatedHosts[t.Key], *ref)
			}
		}
		task := &simulator.Task{}
		task.Self = info.Task
		task.Info = info
		simulator.Map.Put(task) // taskStore.PutObject appends it; TaskManager lists it as recent
		byKey[t.Key] = info
	}
	return byKey
}

func seedEvents(spec *labSpec, taskInfos map[string]types.TaskInfo) {
	dc := datacenterArg()
	cluster := simulator.Map.Any("ClusterComputeResource")
	crArg := &types.ComputeResourceEventArgument{
		EntityEventArgument: types.EntityEventArgument{Name: cluster.Entity().Name},
		ComputeResource:     cluster.Reference(),
	}
	hostArgByName := func(name string) *types.HostEventArgument {
		if ref := entityRef("HostSystem", name); ref != nil {
			return &types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: name}, Host: *ref}
		}
		return nil
	}
	for _, s := range spec.Events {
		base := types.Event{
			CreatedTime:          s.Created,
			UserName:             s.User,
			ChainId:              s.ChainID,
			Datacenter:           dc,
			ComputeResource:      crArg,
			FullFormattedMessage: s.Message,
		}
		if s.Host != "" {
			base.Host = hostArgByName(s.Host)
		}
		if s.VM != "" {
			if ref := entityRef("VirtualMachine", s.VM); ref != nil {
				base.Vm = &types.VmEventArgument{EntityEventArgument: types.EntityEventArgument{Name: s.VM}, Vm: *ref}
			}
		}
		if s.Datastore != "" {
			if ref := entityRef("Datastore", s.Datastore); ref != nil {
				base.Ds = &types.DatastoreEventArgument{EntityEventArgument: types.EntityEventArgument{Name: s.Datastore}, Datastore: *ref}
			}
		}
		var event types.BaseEvent
		switch s.Type {
		case "VmMigratedEvent":
			e := &types.VmMigratedEvent{VmEvent: types.VmEvent{Event: base}, SourceDatacenter: dc}
			if h := hostArgByName(s.SourceHost); h != nil {
				e.SourceHost = *h
			}
			e.SourceDatastore = base.Ds
			event = e
		case "VmFailedMigrateEvent":
			e := &types.VmFailedMigrateEvent{VmEvent: types.VmEvent{Event: base}, DestDatacenter: dc, DestDatastore: base.Ds}
			if h := hostArgByName(s.DestHost); h != nil {
				e.DestHost = *h
			}
			if f := faultOf(s.Reason); f != nil {
				e.Reason = *f
			}
			event = e
		case "VmBeingHotMigratedEvent":
			e := &types.VmBeingHotMigratedEvent{VmEvent: types.VmEvent{Event: base}, DestDatacenter: dc, DestDatastore: base.Ds}
			if h := hostArgByName(s.DestHost); h != nil {
				e.DestHost = *h
			}
			event = e
		case "EnteringMaintenanceModeEvent":
			event = &types.EnteringMaintenanceModeEvent{HostEvent: types.HostEvent{Event: base}}
		case "EnteredMaintenanceModeEvent":
			event = &types.EnteredMaintenanceModeEvent{HostEvent: types.HostEvent{Event: base}}
		case "TaskEvent":
			event = &types.TaskEvent{Event: base, Info: taskInfos[s.Task]}
		default:
			event = &types.GeneralUserEvent{GeneralEvent: types.GeneralEvent{Event: base, Message: s.Message}}
		}
		events.key++
		event.GetEvent().Key = events.key
		events.events = append(events.events, event)
	}
}

// ---------------------------------------------------------------------------------------------
// vVol storage: the datastore, its container and the Protocol Endpoints per host
// ---------------------------------------------------------------------------------------------

func boolp(b bool) *bool { return &b }

func setupStorage(spec *labSpec) {
	st := spec.Storage
	if st.Datastore == "" {
		return
	}
	folder := simulator.Map.Get(simulator.Map.Any("Datacenter").(*simulator.Datacenter).DatastoreFolder).(*simulator.Folder)
	ds := &simulator.Datastore{}
	ds.Self = types.ManagedObjectReference{Type: "Datastore", Value: "datastore-vvol"}
	ds.Name = st.Datastore
	parent := folder.Reference()
	ds.Parent = &parent
	vvol := &types.HostVvolVolume{
		HostFileSystemVolume: types.HostFileSystemVolume{Type: "VVOL", Name: st.Datastore, Capacity: st.Capacity},
		ScId:                 st.ContainerID,
	}
	// The providers that serve this container, as the vSphere API shows them on the datastore.
	for _, p := range spec.Providers {
		info := types.VimVasaProviderInfo{Provider: types.VimVasaProvider{Uid: p.UID, Url: p.URL, Name: p.Name}}
		for _, a := range p.Arrays {
			info.ArrayState = append(info.ArrayState, types.VimVasaProviderStatePerArray{
				Priority: a.Priority, ArrayId: a.ID, Active: a.Active,
			})
		}
		vvol.VasaProviderInfo = append(vvol.VasaProviderInfo, info)
	}
	if st.ArrayID != "" {
		vvol.StorageArray = []types.VASAStorageArray{{Name: st.ArrayID, Uuid: st.ArrayID, VendorId: "PURE", ModelId: "FlashArray"}}
	}
	var mounts []types.DatastoreHostMount
	anyAccessible := false
	for _, h := range spec.Hosts {
		ref := entityRef("HostSystem", h.Name)
		if ref == nil {
			continue
		}
		accessible := h.PeState == "" || h.PeState == "ok"
		anyAccessible = anyAccessible || accessible
		mount := types.HostMountInfo{Path: "/vmfs/volumes/" + st.ContainerID, AccessMode: "readWrite",
			Mounted: boolp(true), Accessible: boolp(accessible)}
		if !accessible {
			mount.InaccessibleReason = "AllPathsDown_Start"
		}
		mounts = append(mounts, types.DatastoreHostMount{Key: *ref, MountInfo: mount})
		if h.PeState != "missing" && st.PeID != "" {
			vvol.HostPE = append(vvol.HostPE, types.VVolHostPE{Key: *ref, ProtocolEndpoint: []types.HostProtocolEndpoint{{
				PeType: "block", Type: "SCSI", Uuid: st.PeID, HostKey: []types.ManagedObjectReference{*ref},
				StorageArray: st.ArrayID, DeviceId: st.PeID,
			}}})
		}
		addProtocolEndpointLun(*ref, st.PeID, h.PeState)
	}
	ds.Host = mounts
	ds.Summary = types.DatastoreSummary{Datastore: &ds.Self, Name: st.Datastore, Url: st.URL, Capacity: st.Capacity,
		FreeSpace: st.Free, Accessible: anyAccessible, MultipleHostAccess: boolp(true), Type: "VVOL"}
	ds.Info = &types.VvolDatastoreInfo{
		DatastoreInfo: types.DatastoreInfo{Name: st.Datastore, Url: st.URL, FreeSpace: st.Free, MaxFileSize: st.Capacity},
		VvolDS:        vvol,
	}
	ds.Capability = types.DatastoreCapability{DirectoryHierarchySupported: true, PerFileThinProvisioningSupported: true}
	simulator.Map.Put(ds)
	simulator.Map.WithLock(folder, func() { folder.ChildEntity = append(folder.ChildEntity, ds.Self) })
	for _, m := range mounts {
		if h, ok := simulator.Map.Get(m.Key).(*simulator.HostSystem); ok {
			simulator.Map.WithLock(h, func() { h.Datastore = append(h.Datastore, ds.Self) })
		}
	}
	for _, e := range simulator.Map.All("VirtualMachine") {
		simulator.Map.WithLock(e, func() {
			if vm, ok := e.(*drainVM); ok {
				vm.Datastore = append(vm.Datastore, ds.Self)
			}
		})
	}
}

// addProtocolEndpointLun presents the PE to the host as a SCSI LUN (protocolEndpoint=true):
// operationalState "ok" when reachable, "lostCommunication" when not; absent when missing.
func addProtocolEndpointLun(host types.ManagedObjectReference, peID, state string) {
	if peID == "" || state == "missing" {
		return
	}
	h, ok := simulator.Map.Get(host).(*simulator.HostSystem)
	if !ok {
		return
	}
	operational := []string{"ok"}
	if state == "inaccessible" {
		operational = []string{"lostCommunication"}
	}
	lun := &types.HostScsiDisk{ScsiLun: types.ScsiLun{
		HostDevice:       types.HostDevice{DeviceName: "/vmfs/devices/disks/" + peID, DeviceType: "disk"},
		Key:              "key-vim.host.ScsiDisk-" + peID,
		Uuid:             strings.TrimPrefix(peID, "naa."),
		CanonicalName:    peID,
		DisplayName:      "PURE Fibre Channel Disk (" + peID + ")",
		LunType:          "disk",
		Vendor:           "PURE",
		Model:            "FlashArray",
		OperationalState: operational,
		ProtocolEndpoint: boolp(true),
	}}
	simulator.Map.WithLock(h, func() {
		if h.Config == nil || h.Config.StorageDevice == nil {
			return
		}
		// The simulator's hosts share one template config: give this host its own copy.
		cfg := *h.Config
		dev := *cfg.StorageDevice
		dev.ScsiLun = append(append([]types.BaseScsiLun(nil), dev.ScsiLun...), lun)
		cfg.StorageDevice = &dev
		h.Config = &cfg
	})
}

// ---------------------------------------------------------------------------------------------
// SMS (Storage Monitoring Service) at /sms/sdk
// ---------------------------------------------------------------------------------------------

type smsServiceInstance struct {
	types.ManagedObjectReference
}

func (s *smsServiceInstance) Reference() types.ManagedObjectReference {
	return s.ManagedObjectReference
}

var smsStorageManagerRef = types.ManagedObjectReference{Type: "SmsStorageManager", Value: "SmsStorageManager"}

func (s *smsServiceInstance) QueryStorageManager(ctx *simulator.Context, req *smstypes.QueryStorageManager) soap.HasFault {
	return &smsmethods.QueryStorageManagerBody{Res: &smstypes.QueryStorageManagerResponse{Returnval: smsStorageManagerRef}}
}

func (s *smsServiceInstance) QueryAboutInfo(ctx *simulator.Context, req *smstypes.QueryAboutInfo) soap.HasFault {
	return &smsmethods.QueryAboutInfoBody{Res: &smstypes.QueryAboutInfoResponse{Returnval: smstypes.SmsAboutInfo{
		Name: "SMS", FullName: "Storage Monitoring Service", Vendor: "VMware, Inc.", ApiVersion: "7.0",
		InstanceUuid: "vvolguard-lab-sms", VasaApiVersion: "5.0",
	}}}
}

type smsStorageManager struct {
	types.ManagedObjectReference
	providers []*smsProvider
}

func (m *smsStorageManager) Reference() types.ManagedObjectReference { return m.ManagedObjectReference }

func (m *smsStorageManager) QueryProvider(ctx *simulator.Context, req *smstypes.QueryProvider) soap.HasFault {
	var refs []types.ManagedObjectReference
	for _, p := range m.providers {
		refs = append(refs, p.ManagedObjectReference)
	}
	return &smsmethods.QueryProviderBody{Res: &smstypes.QueryProviderResponse{Returnval: refs}}
}

func (m *smsStorageManager) QueryArray(ctx *simulator.Context, req *smstypes.QueryArray) soap.HasFault {
	var out []smstypes.StorageArray
	for _, p := range m.providers {
		want := len(req.ProviderId) == 0
		for _, id := range req.ProviderId {
			want = want || id == p.spec.UID
		}
		if want {
			out = append(out, p.arrays()...)
		}
	}
	return &smsmethods.QueryArrayBody{Res: &smstypes.QueryArrayResponse{Returnval: out}}
}

type smsProvider struct {
	types.ManagedObjectReference
	spec labProvider
}

func (p *smsProvider) Reference() types.ManagedObjectReference { return p.ManagedObjectReference }

func (p *smsProvider) arrays() []smstypes.StorageArray {
	var out []smstypes.StorageArray
	for _, a := range p.spec.Arrays {
		out = append(out, smstypes.StorageArray{Name: a.Name, Uuid: a.ID, VendorId: a.VendorID, ModelId: a.ModelID,
			Firmware: a.Firmware, Priority: a.Priority})
	}
	return out
}

func (p *smsProvider) QueryProviderInfo(ctx *simulator.Context, req *smstypes.QueryProviderInfo) soap.HasFault {
	s := p.spec
	info := &smstypes.VasaProviderInfo{
		SmsProviderInfo: smstypes.SmsProviderInfo{Uid: s.UID, Name: s.Name, Version: s.Version},
		Url:             s.URL, Certificate: s.Certificate, Status: s.Status, StatusFault: faultOf(s.StatusFault),
		VasaVersion: s.VasaVersion, Namespace: "com.vmware", LastSyncTime: s.LastSyncTime, ProviderId: s.ProviderID,
		CertificateExpiryDate: s.CertificateExpiryDate, CertificateStatus: s.CertificateStatus,
		NeedsExplicitActivation: boolp(false), RetainVasaProviderCertificate: boolp(false),
		ArrayIndependentProvider: boolp(false), Type: "PERSISTENCE", Category: "internal",
	}
	for _, a := range s.Arrays {
		info.RelatedStorageArray = append(info.RelatedStorageArray, smstypes.RelatedStorageArray{
			ArrayId: a.ID, Active: a.Active, Manageable: true, Priority: a.Priority,
		})
	}
	return &smsmethods.QueryProviderInfoBody{Res: &smstypes.QueryProviderInfoResponse{Returnval: info}}
}

func (p *smsProvider) QueryArray(ctx *simulator.Context, req *smstypes.QueryArray) soap.HasFault {
	return &smsmethods.QueryArrayBody{Res: &smstypes.QueryArrayResponse{Returnval: p.arrays()}}
}

func smsRegistry(spec *labSpec) *simulator.Registry {
	r := simulator.NewRegistry()
	r.Namespace = "sms"
	r.Path = "/sms/sdk"
	r.Put(&smsServiceInstance{types.ManagedObjectReference{Type: "SmsServiceInstance", Value: "ServiceInstance"}})
	sm := &smsStorageManager{ManagedObjectReference: smsStorageManagerRef}
	for i, p := range spec.Providers {
		prov := &smsProvider{
			ManagedObjectReference: types.ManagedObjectReference{Type: "VasaProvider", Value: fmt.Sprintf("vasaprovider-%d", i+1)},
			spec:                   p,
		}
		sm.providers = append(sm.providers, prov)
		r.Put(prov)
	}
	r.Put(sm)
	return r
}

// ---------------------------------------------------------------------------------------------
// Privileges the lab user lacks
// ---------------------------------------------------------------------------------------------

// privilegeOf: the privilege each guarded method needs (vSphere API reference, "Required
// privileges"); a method not listed needs only System.View / System.Read.
var privilegeOf = map[string]string{
	"CreateCollectorForTasks":   "System.View",
	"CreateCollectorForEvents":  "System.View",
	"QueryEvents":               "System.View",
	"BrowseDiagnosticLog":       "Global.Diagnostics",
	"QueryDescriptions":         "Global.Diagnostics",
	"GenerateLogBundles_Task":   "Global.Diagnostics",
	"TerminateSession":          "Sessions.TerminateSession",
	"QueryStorageManager":       "StorageViews.View",
	"QueryProvider":             "StorageViews.View",
	"QueryProviderInfo":         "StorageViews.View",
	"QueryArray":                "StorageViews.View",
	"RelocateVM_Task":           "Resource.HotMigrate",
	"EnterMaintenanceMode_Task": "Host.Config.Maintenance",
}

type labAuthorization struct {
	mo.AuthorizationManager
	missing map[string]bool
}

// lacks: the privilege is one the limited user lacks, and the caller is that user.
func (a *labAuthorization) lacks(ctx *simulator.Context, id string) bool {
	return a.missing[id] && ctx.Session != nil && ctx.Session.UserName == labLogins.limitedUser
}

func (a *labAuthorization) privilegeAvailable(ctx *simulator.Context, ids []string) []types.PrivilegeAvailability {
	var out []types.PrivilegeAvailability
	for _, id := range ids {
		out = append(out, types.PrivilegeAvailability{PrivId: id, IsGranted: !a.lacks(ctx, id)})
	}
	return out
}

func (a *labAuthorization) HasPrivilegeOnEntities(ctx *simulator.Context, req *types.HasPrivilegeOnEntities) soap.HasFault {
	var out []types.EntityPrivilege
	for _, e := range req.Entity {
		out = append(out, types.EntityPrivilege{Entity: e, PrivAvailability: a.privilegeAvailable(ctx, req.PrivId)})
	}
	return &methods.HasPrivilegeOnEntitiesBody{Res: &types.HasPrivilegeOnEntitiesResponse{Returnval: out}}
}

func (a *labAuthorization) HasPrivilegeOnEntity(ctx *simulator.Context, req *types.HasPrivilegeOnEntity) soap.HasFault {
	var out []bool
	for _, id := range req.PrivId {
		out = append(out, !a.lacks(ctx, id))
	}
	return &hasPrivilegeOnEntityBody{Res: &HasPrivilegeOnEntityResponse{Returnval: out}}
}

// HasPrivilegeOnEntityResponse is govmomi's without "omitempty": with it, encoding/xml drops
// every false element of the []bool, so "not granted" would vanish from the answer. The SOAP
// element name comes from this type's name.
type HasPrivilegeOnEntityResponse struct {
	Returnval []bool `xml:"returnval"`
}

type hasPrivilegeOnEntityBody struct {
	Res    *HasPrivilegeOnEntityResponse `xml:"HasPrivilegeOnEntityResponse,omitempty"`
	Fault_ *soap.Fault                   `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
}

func (b *hasPrivilegeOnEntityBody) Fault() *soap.Fault { return b.Fault_ }

func (a *labAuthorization) HasUserPrivilegeOnEntities(ctx *simulator.Context, req *types.HasUserPrivilegeOnEntities) soap.HasFault {
	limited := strings.EqualFold(req.UserName, labLogins.limitedUser)
	var avail []types.PrivilegeAvailability
	for _, id := range req.PrivId {
		avail = append(avail, types.PrivilegeAvailability{PrivId: id, IsGranted: !(limited && a.missing[id])})
	}
	var out []types.EntityPrivilege
	for _, e := range req.Entities {
		out = append(out, types.EntityPrivilege{Entity: e, PrivAvailability: avail})
	}
	return &methods.HasUserPrivilegeOnEntitiesBody{Res: &types.HasUserPrivilegeOnEntitiesResponse{Returnval: out}}
}

func (a *labAuthorization) FetchUserPrivilegeOnEntities(ctx *simulator.Context, req *types.FetchUserPrivilegeOnEntities) soap.HasFault {
	limited := strings.EqualFold(req.UserName, labLogins.limitedUser)
	// The simulator's Admin role is ESXi's; the vCenter privileges the lab guards come on top.
	seen := map[string]bool{}
	var ids []string
	for _, role := range a.RoleList {
		if role.Name == "Admin" {
			ids = append(ids, role.Privilege...)
		}
	}
	for _, id := range privilegeOf {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var granted []string
	for _, id := range ids {
		if !seen[id] && !(limited && a.missing[id]) {
			granted = append(granted, id)
		}
		seen[id] = true
	}
	var out []types.UserPrivilegeResult
	for _, e := range req.Entities {
		out = append(out, types.UserPrivilegeResult{Entity: e, Privileges: granted})
	}
	return &methods.FetchUserPrivilegeOnEntitiesBody{Res: &types.FetchUserPrivilegeOnEntitiesResponse{Returnval: out}}
}

// ---------------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------------

var labService *simulator.Service

func setupLab(spec *labSpec) error {
	events.markSeen()
	setupStorage(spec)

	// Task history: our TaskManager, and every Task put from now on is recorded.
	content := serviceContent()
	orig, ok := simulator.Map.Get(*content.TaskManager).(*simulator.TaskManager)
	if !ok {
		return fmt.Errorf("the simulator's TaskManager is not where the service content says")
	}
	tm := &labTaskManager{inner: orig}
	tm.Self = orig.Self
	simulator.Map.Put(tm)
	simulator.Map.AddHandler(tasks)
	infos := seedTasks(spec)
	seedEvents(spec, infos)

	dm := &labDiagnosticManager{}
	dm.Self = *content.DiagnosticManager
	simulator.Map.Put(dm)

	em := &labEventManager{}
	em.Self = labEventManagerRef
	simulator.Map.Put(em)

	if len(spec.Knobs.MissingPrivileges) > 0 {
		am, ok := simulator.Map.Get(*content.AuthorizationManager).(*simulator.AuthorizationManager)
		if ok {
			auth := &labAuthorization{missing: map[string]bool{}}
			auth.AuthorizationManager = am.AuthorizationManager
			for _, p := range spec.Knobs.MissingPrivileges {
				auth.missing[p] = true
			}
			simulator.Map.Put(auth)
		}
	}
	if !spec.Knobs.SmsDown && labService != nil {
		labService.RegisterSDK(smsRegistry(spec))
	}
	return nil
}

// soapMethod names the SOAP method of a request body (the first element inside soapenv:Body).
func soapMethod(body []byte) string {
	i := bytes.Index(body, []byte("Body"))
	if i < 0 {
		return ""
	}
	rest := body[i:]
	j := bytes.IndexByte(rest, '<')
	if j < 0 {
		return ""
	}
	rest = rest[j+1:]
	end := bytes.IndexAny(rest, " >/")
	if end < 0 {
		return ""
	}
	name := string(rest[:end])
	if k := strings.IndexByte(name, ':'); k >= 0 {
		name = name[k+1:]
	}
	return name
}

func noPermission(w http.ResponseWriter, privilege string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Permission to perform this operation was denied.</faultstring><detail><NoPermissionFault xmlns="urn:vim25" xsi:type="NoPermission"><object type="Folder">group-d1</object><privilegeId>%s</privilegeId></NoPermissionFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`, privilege)
}

// labLogins: who may log in (set from the environment), and the sessions of the limited user.
var labLogins = struct {
	mu                       sync.Mutex
	user, password           string
	limitedUser, limitedPass string
	limitedSessions          map[string]bool
}{limitedSessions: map[string]bool{}}

// labReady turns login checking on once the simulator has populated itself (through its own
// SOAP API, with the simulator's default login).
var labReady bool

func init() {
	labLogins.user = os.Getenv("VVOLGUARD_VCSIM_USER")
	labLogins.password = os.Getenv("VVOLGUARD_VCSIM_PASSWORD")
	labLogins.limitedUser = os.Getenv("VVOLGUARD_VCSIM_LIMITED_USER")
	labLogins.limitedPass = os.Getenv("VVOLGUARD_VCSIM_LIMITED_PASSWORD")
}

// xmlText returns the text of the first <name>...</name> element in body (XML-unescaped).
func xmlText(body []byte, name string) string {
	open := []byte("<" + name)
	i := bytes.Index(body, open)
	if i < 0 {
		return ""
	}
	rest := body[i+len(open):]
	j := bytes.IndexByte(rest, '>')
	if j < 0 {
		return ""
	}
	rest = rest[j+1:]
	k := bytes.Index(rest, []byte("</"))
	if k < 0 {
		return ""
	}
	var out strings.Builder
	dec := xml.NewDecoder(bytes.NewReader(append(append([]byte("<x>"), rest[:k]...), []byte("</x>")...)))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if cd, ok := tok.(xml.CharData); ok {
			out.Write(cd)
		}
	}
	return out.String()
}

func soapFault(w http.ResponseWriter, message, detail string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring><detail>%s</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`, message, detail)
}

// labHandler wraps the simulator's HTTP handler: logins, the SMS-down knob, the missing
// privileges of the limited user, and the event-history calls pointed at labEventManager.
func labHandler(next http.Handler, spec *labSpec) http.Handler {
	missing := map[string]bool{}
	for _, p := range spec.Knobs.MissingPrivileges {
		missing[p] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/sms/") && spec.Knobs.SmsDown {
			http.Error(w, "Storage Monitoring Service is not running", http.StatusServiceUnavailable)
			return
		}
		if r.Method != http.MethodPost || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		method := soapMethod(body)
		limitedLogin := false
		if method == "Login" && labReady {
			user, pass := xmlText(body, "userName"), xmlText(body, "password")
			labLogins.mu.Lock()
			primary := labLogins.user != "" && user == labLogins.user && pass == labLogins.password
			limitedLogin = labLogins.limitedUser != "" && user == labLogins.limitedUser && pass == labLogins.limitedPass
			labLogins.mu.Unlock()
			if !primary && !limitedLogin {
				soapFault(w, "Cannot complete login due to an incorrect user name or password.",
					`<InvalidLoginFault xmlns="urn:vim25" xsi:type="InvalidLogin"></InvalidLoginFault>`)
				return
			}
		}
		if cookie, err := r.Cookie(soap.SessionCookieName); err == nil {
			labLogins.mu.Lock()
			limited := labLogins.limitedSessions[cookie.Value]
			labLogins.mu.Unlock()
			if p, ok := privilegeOf[method]; ok && limited && missing[p] {
				noPermission(w, p)
				return
			}
		}
		if method == "CreateCollectorForEvents" || method == "QueryEvents" {
			body = bytes.Replace(body, []byte(">EventManager</"), []byte(">"+labEventManagerRef.Value+"</"), 1)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
		if limitedLogin {
			// The session key the simulator just handed out belongs to the limited user.
			header := http.Header{"Set-Cookie": w.Header().Values("Set-Cookie")}
			for _, c := range (&http.Response{Header: header}).Cookies() {
				if c.Name == soap.SessionCookieName {
					labLogins.mu.Lock()
					labLogins.limitedSessions[c.Value] = true
					labLogins.mu.Unlock()
				}
			}
		}
	})
}

// ---------------------------------------------------------------------------------------------
// DiagnosticManager: the hosts' logs without SSH
// ---------------------------------------------------------------------------------------------

// browseDefaultLines is what BrowseDiagnosticLog returns when the caller gives no line count.
const browseDefaultLines = 1000

// hostLogFiles: the log keys each host offers and the file under its tree.
var hostLogFiles = map[string]string{
	"vvold":    "var/run/log/vvold.log",
	"hostd":    "var/run/log/hostd.log",
	"vmkernel": "var/run/log/vmkernel.log",
}

type labDiagnosticManager struct {
	mo.DiagnosticManager
}

func hostLogPath(host *types.ManagedObjectReference, key string) (string, bool) {
	if host == nil || vvold.dir == "" {
		return "", false
	}
	h, ok := simulator.Map.Get(*host).(*simulator.HostSystem)
	rel, known := hostLogFiles[key]
	if !ok || !known {
		return "", false
	}
	var name string
	simulator.Map.WithLock(h, func() { name = h.Name })
	return filepath.Join(vvold.dir, strings.SplitN(name, ".", 2)[0], filepath.FromSlash(rel)), true
}

func (d *labDiagnosticManager) QueryDescriptions(ctx *simulator.Context, req *types.QueryDescriptions) soap.HasFault {
	var out []types.DiagnosticManagerLogDescriptor
	keys := make([]string, 0, len(hostLogFiles))
	for k := range hostLogFiles {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		path, ok := hostLogPath(req.Host, key)
		if !ok {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			continue
		}
		out = append(out, types.DiagnosticManagerLogDescriptor{
			Key: key, FileName: "/" + hostLogFiles[key], Creator: key, Format: "plain", MimeType: "text/plain",
			Info: &types.Description{Label: key, Summary: key + " log of the host"},
		})
	}
	return &methods.QueryDescriptionsBody{Res: &types.QueryDescriptionsResponse{Returnval: out}}
}

func (d *labDiagnosticManager) BrowseDiagnosticLog(ctx *simulator.Context, req *types.BrowseDiagnosticLog) soap.HasFault {
	body := &methods.BrowseDiagnosticLogBody{}
	path, ok := hostLogPath(req.Host, req.Key)
	if !ok {
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "key"})
		return body
	}
	f, err := os.Open(path)
	if err != nil {
		body.Fault_ = simulator.Fault("", &types.CannotAccessFile{FileFault: types.FileFault{File: path}})
		return body
	}
	defer f.Close()
	start := int(req.Start)
	if start < 1 {
		start = 1
	}
	want := int(req.Lines)
	if want <= 0 {
		want = browseDefaultLines
	}
	header := types.DiagnosticManagerLogHeader{LineStart: int32(start)}
	// Streamed: the log may be large; only the lines returned are held.
	reader := bufio.NewReader(f)
	end := start - 1
	for n := 1; len(header.LineText) < want; n++ {
		line, err := reader.ReadString('\n')
		if line == "" && err != nil {
			break
		}
		if n >= start {
			header.LineText = append(header.LineText, strings.TrimSuffix(line, "\n"))
			end = n
		}
		if err != nil {
			break
		}
	}
	header.LineEnd = int32(end)
	body.Res = &types.BrowseDiagnosticLogResponse{Returnval: header}
	return body
}
