import sys, time, torch, importlib.util
spec = importlib.util.spec_from_file_location("nets", "/work/main/restora/engine/models/nets.py")
nets = importlib.util.module_from_spec(spec); spec.loader.exec_module(nets)
torch.set_num_threads(2)
def t(m, *a, n=3):
    with torch.inference_mode():
        m(*a); ts=[]
        for _ in range(n):
            t0=time.perf_counter(); m(*a); ts.append(time.perf_counter()-t0)
    return sorted(ts)[len(ts)//2]
cfgs = [("UNetDenoiser", dict(channels=[32,64,128], blocks=[1,1,2])),
        ("UNetDenoiser", dict(channels=[32,64,128], blocks=[2,2,4])),
        ("UNetDenoiser", dict(channels=[48,96,192], blocks=[1,1,2])),
        ("UNetDenoiser", dict(channels=[32,64,128], blocks=[1,2,4])),]
x = torch.rand(1,3,1000,1000); s=torch.full((1,1,1,1),25/255)
for a,c in cfgs:
    m = nets.build(a,c).eval(); p=sum(q.numel() for q in m.parameters())
    print(a,c,"params %.0fk"%(p/1e3), "s/MP %.3f"%t(m,x,s), flush=True)
for sc,c,b in [(2,32,6),(2,48,6),(2,32,10),(4,64,8),(4,48,8)]:
    m = nets.build("CompactSR", dict(scale=sc,channels=c,blocks=b)).eval(); p=sum(q.numel() for q in m.parameters())
    xi = torch.rand(1,3,1000//sc,1000//sc)
    print("SR",sc,c,b,"params %.0fk"%(p/1e3),"s/outMP %.3f"%t(m,xi), flush=True)
