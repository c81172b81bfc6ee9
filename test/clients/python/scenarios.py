"""Scenarios with docker-py (Debian's python3-docker), run by test/clients/docker-py.test.ts against a test engine.

Each scenario drives the client the way a program using it would and prints one JSON object of what it saw; the
mocha test asserts on it. DOCKER_HOST names the engine. Usage: scenarios.py SCENARIO [ARGS...]
"""
import json
import sys
import time

import docker
from docker.errors import APIError, ImageLoadError

client = docker.from_env()
api = client.api


def error_of(fn):
    """What a failing call raised: the HTTP status and Docker's message (None when it did not fail)."""
    try:
        fn()
    except APIError as e:
        return {'status': e.status_code, 'message': e.explanation}
    return None


def text(b):
    return None if b is None else b.decode('utf-8', 'replace')


def swarm():
    return {
        'swarm': error_of(client.swarm.reload),
        'nodes': error_of(client.nodes.list),
        'services': error_of(client.services.list),
        'leave': error_of(client.swarm.leave),
        'plugins': [p.name for p in client.plugins.list()],
        'state': client.info()['Swarm']['LocalNodeState'],
    }


def logs():
    out = {'run': text(client.containers.run('busybox', ['sh', '-c', 'echo out; echo err >&2'], remove=True))}
    out['run_tty'] = text(client.containers.run('busybox', ['echo', 'tty'], tty=True, remove=True))
    done = client.containers.run('busybox', ['sh', '-c', 'echo one; echo two >&2'], name='py-done', detach=True)
    done.wait()
    live = client.containers.run('busybox', ['sh', '-c', 'echo up; exec sleep 600'], name='py-live', detach=True)
    while b'up' not in live.logs():
        time.sleep(0.05)
    try:
        # Without follow a stream ends at the end of the log, whether the container still runs or not.
        out['done_no_follow'] = text(b''.join(done.logs(stream=True, follow=False)))
        out['live_no_follow'] = text(b''.join(live.logs(stream=True, follow=False)))
        # Following a container that is over ends too (docker-py's own run() relies on it).
        out['done_follow'] = text(b''.join(done.logs(stream=True)))
        out['done_tail'] = text(b''.join(api.logs('py-done', stream=True, follow=False, tail=1)))
    finally:
        live.remove(force=True)
        done.remove()
    return out


def exec_():
    c = client.containers.run('busybox', ['sleep', '600'], name='py-exec', detach=True)
    try:
        tty = c.exec_run('tty', tty=True)
        split = c.exec_run(['sh', '-c', 'echo out; echo err >&2; exit 3'], demux=True)
        streamed = c.exec_run(['sh', '-c', 'echo a; echo b'], stream=True)
        # An exec made with a TTY and started without one: docker-py demultiplexes what comes, so the engine must
        # frame it (moby's rule: the start request decides).
        made_tty = api.exec_create(c.id, ['tty'], tty=True)
        started_plain = api.exec_start(made_tty['Id'], tty=False, demux=True)
        return {
            'tty': [tty.exit_code, text(tty.output)],
            'split': [split.exit_code, text(split.output[0]), text(split.output[1])],
            'streamed': text(b''.join(streamed.output)),
            'tty_started_plain': [text(started_plain[0]), text(started_plain[1])],
            'inspect': api.exec_inspect(made_tty['Id'])['ProcessConfig']['tty'],
        }
    finally:
        c.remove(force=True)


def images(truncated_archive):
    image = client.images.get('busybox')
    user = client.containers.create('busybox', ['true'], name='py-image-user')
    try:
        refused = error_of(lambda: client.images.remove('busybox'))
        still = client.images.get('busybox').tags
    finally:
        user.remove()
    with open(truncated_archive, 'rb') as f:
        data = f.read()
    try:
        client.images.load(data)
        load_error = None
    except ImageLoadError as e:
        load_error = str(e)
    return {'id': image.id, 'refused': refused, 'tags_after': still, 'load_error': load_error}


def networks():
    n = client.networks.create('py-net', labels={'team': 'py'})
    try:
        listed = [x.name for x in client.networks.list(filters={'label': 'team=py'})]
        duplicate = error_of(lambda: client.networks.create('py-net'))
    finally:
        n.remove()
    return {
        'listed': listed,
        'duplicate': duplicate,
        'host_driver': error_of(lambda: client.networks.create('py-host', driver='host')),
        'bad_labels': error_of(lambda: api.create_network('py-typed', labels={'team': 1})),
        'predefined': error_of(lambda: client.networks.create('bridge')),
        'prune_nothing': client.networks.prune(filters={'label': 'nosuch'}),
        'names': sorted(x.name for x in client.networks.list()),
    }


def volumes():
    client.volumes.create('py-named')
    c = client.containers.create('busybox', ['true'], volumes=['/anon'], name='py-anon')
    anon = [m['Name'] for m in c.attrs['Mounts'] if m['Type'] == 'volume'][0]
    c.remove()
    first = client.volumes.prune()
    second = client.volumes.prune(filters={'all': 'true'})
    return {
        'anonymous': anon,
        'default_prune': first['VolumesDeleted'],
        'all_prune': second['VolumesDeleted'],
        'left': [v.name for v in client.volumes.list()],
    }


def cgroup_value(c, v2_file, v1_file):
    """A cgroup setting as the container itself reads it (cgroup v2 or v1)."""
    r = c.exec_run(['sh', '-c', 'cat /sys/fs/cgroup/%s 2>/dev/null || cat /sys/fs/cgroup/%s' % (v2_file, v1_file)])
    return text(r.output).strip()


def update_stats():
    c = client.containers.run('busybox', ['sleep', '600'], name='py-update', detach=True)
    none = client.containers.run('busybox', ['sleep', '600'], name='py-none', network_mode='none', detach=True)
    try:
        # Without a swap limit a memory limit above none is refused as a whole (dockerd: 409), the policy too.
        refused = error_of(lambda: c.update(restart_policy={'Name': 'always'}, mem_limit='64m'))
        c.reload()
        policy_after_refusal = c.attrs['HostConfig']['RestartPolicy']['Name']
        c.update(restart_policy={'Name': 'always'}, mem_limit='64m', memswap_limit='128m')
        # A second update without a policy keeps the one set (the client sends an empty one).
        c.update(cpu_shares=512)
        c.reload()
        hc = c.attrs['HostConfig']
        gateway = c.attrs['NetworkSettings']['Gateway']
        pinged = c.exec_run(['ping', '-c', '1', '-W', '2', gateway]).exit_code
        stats = c.stats(stream=False)
        eth0 = stats.get('networks', {}).get('eth0', {})
        return {
            'refused': refused,
            'policy_after_refusal': policy_after_refusal,
            'policy': hc['RestartPolicy']['Name'],
            'memory': hc['Memory'],
            'cpu_shares': hc['CpuShares'],
            'memory_in_cgroup': cgroup_value(c, 'memory.max', 'memory/memory.limit_in_bytes'),
            'shares_in_cgroup': cgroup_value(c, 'cpu.weight', 'cpu/cpu.shares'),
            'pinged': pinged,
            'interfaces': sorted(stats.get('networks', {})),
            'counted': eth0.get('tx_packets', 0) >= 1 and eth0.get('rx_bytes', 0) > 0,
            'none_interfaces': sorted(none.stats(stream=False).get('networks', {})),
        }
    finally:
        c.remove(force=True)
        none.remove(force=True)


def restart_at_once():
    # run() waits for the container to stop; one that exits at once and restarts by policy must not keep it waiting.
    started = time.time()
    out = client.containers.run('busybox', ['echo', 'once'], name='py-restart', restart_policy={'Name': 'always'})
    took = time.time() - started
    c = client.containers.get('py-restart')
    try:
        deadline = time.time() + 30
        while c.attrs['RestartCount'] < 2 and time.time() < deadline:
            time.sleep(0.1)
            c.reload()
        return {
            'output': text(out).split('\n')[0],
            'returned_in_time': took < 20,
            'policy': c.attrs['HostConfig']['RestartPolicy']['Name'],
            'restarted': c.attrs['RestartCount'] >= 2,
        }
    finally:
        c.remove(force=True)


def mac_address():
    # docker-py sends Config.MacAddress (API < 1.44 style): it applies to the container's primary network.
    c = client.containers.run('busybox', ['sleep', '600'], name='py-mac', mac_address='02:42:ac:11:00:42', detach=True)
    try:
        c.reload()
        return {
            'in_container': text(c.exec_run(['cat', '/sys/class/net/eth0/address']).output).strip(),
            'config': c.attrs['Config'].get('MacAddress'),
            'network': c.attrs['NetworkSettings']['Networks']['bridge']['MacAddress'],
            'invalid': error_of(lambda: api.create_container('busybox', ['true'], mac_address='02:42')),
        }
    finally:
        c.remove(force=True)


SCENARIOS = {
    'swarm': swarm,
    'logs': logs,
    'exec': exec_,
    'images': images,
    'networks': networks,
    'volumes': volumes,
    'update_stats': update_stats,
    'restart_at_once': restart_at_once,
    'mac_address': mac_address,
}

if __name__ == '__main__':
    print(json.dumps(SCENARIOS[sys.argv[1]](*sys.argv[2:])))
