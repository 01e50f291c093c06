//! Several daemons on one PostgreSQL database (`storage.backend: postgres`), as an operator runs
//! them behind a load balancer: the real binary, three processes, requests spread over them.

mod cluster;
mod crashes;
mod events;
mod migration;
mod races;
mod shared_config;
