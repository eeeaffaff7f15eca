"""Run one shard of a sharded evaluate or predict, or one tuning trial: deployed as
`shard` (flow `synaprefect-shard`) on the work pool whose workers share the load.

`synaprefect.orchestration.sharding.evaluate_on_work_pool(program, x, y,
deployment="synaprefect-shard/shard", shards=N)` starts one run of it per shard, and
`tuner.search(..., deployment="synaprefect-shard/shard")` one per trial; there is nothing
to run by hand. The model settings travel with the program (a `rate_limit`
name included, so every worker shares that provider limit); the worker's environment
provides the provider keys (`OPENAI_API_KEY`, ...).
"""

from synaprefect.orchestration.work_pools import shard_flow as shard

__all__ = ["shard"]

if __name__ == "__main__":
    raise SystemExit(
        "Deploy this flow (deployments/prefect.yaml): sharded evaluations start its runs."
    )
