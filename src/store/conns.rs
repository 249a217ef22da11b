//! The store's two connections (behaviour B13, B16): one for reads, one for writes, so a read never
//! waits behind a write that waits for SQLite's write lock or for its fsync (WAL readers need
//! no write lock). Both open lazily and close before every `fork()` (`crate::fork`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;
use rusqlite::Connection;

use super::read::Seen;
use crate::db;
use crate::error::{Error, Result};
use crate::fork::{self, CloseOnFork};
use crate::options::StoreOptions;

/// The read connection and what it last learnt of the database.
struct ReadConn {
    conn: Connection,
    seen: Seen,
}

pub(crate) struct Conns {
    path: PathBuf,
    options: StoreOptions,
    /// `:memory:` names a private database that only one connection can see: both sides
    /// share the write connection (and a fork cannot harm it: there is no file).
    memory: bool,
    /// Both connections are read-only (`db::open_read_only`) and writes are refused.
    read_only: bool,
    reader: Mutex<Slot<ReadConn>>,
    writer: Mutex<Slot<Connection>>,
    closed: AtomicBool,
    /// Connections opened again after a fork closed them.
    reopened: AtomicU64,
}

/// A connection, opened on first use.
struct Slot<T> {
    conn: Option<T>,
    /// A fork closed it: the next open counts as a reopen.
    closed_by_fork: bool,
}

impl<T> Slot<T> {
    fn empty() -> Slot<T> {
        Slot {
            conn: None,
            closed_by_fork: false,
        }
    }

    /// The connection, opened with `open` when there is none.
    fn get(&mut self, open: impl FnOnce() -> Result<T>, reopened: &AtomicU64) -> Result<&mut T> {
        if self.conn.is_none() {
            let conn = open()?;
            if std::mem::take(&mut self.closed_by_fork) {
                reopened.fetch_add(1, Relaxed);
            }
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("just opened"))
    }

    fn close_for_fork(&mut self) {
        if self.conn.take().is_some() {
            self.closed_by_fork = true;
        }
    }
}

impl Conns {
    /// Opens the write connection (so a bad file fails here) and returns the holder.
    pub(crate) fn open(path: &Path, options: &StoreOptions) -> Result<Conns> {
        let writer = db::open(path, options)?;
        Ok(Conns {
            path: path.to_path_buf(),
            options: options.clone(),
            memory: db::is_memory(path),
            read_only: false,
            reader: Mutex::new(Slot::empty()),
            writer: Mutex::new(Slot {
                conn: Some(writer),
                closed_by_fork: false,
            }),
            closed: AtomicBool::new(false),
            reopened: AtomicU64::new(0),
        })
    }

    /// Opens the read connection (so a bad file fails here) of a store that never writes.
    pub(crate) fn open_read_only(path: &Path, options: &StoreOptions) -> Result<Conns> {
        let memory = db::is_memory(path);
        let conn = db::open_read_only(path, options)?;
        let (reader, writer) = if memory {
            // One private database: reads go through the "write" slot (see `read`).
            (
                Slot::empty(),
                Slot {
                    conn: Some(conn),
                    closed_by_fork: false,
                },
            )
        } else {
            let read = ReadConn {
                conn,
                seen: Seen::default(),
            };
            (
                Slot {
                    conn: Some(read),
                    closed_by_fork: false,
                },
                Slot::empty(),
            )
        };
        Ok(Conns {
            path: path.to_path_buf(),
            options: options.clone(),
            memory,
            read_only: true,
            reader: Mutex::new(reader),
            writer: Mutex::new(writer),
            closed: AtomicBool::new(false),
            reopened: AtomicU64::new(0),
        })
    }

    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// `database_readonly` when the store was opened read-only.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::DatabaseReadonly(format!(
                "{}: the store was opened read-only; writes are refused",
                self.path.display()
            )));
        }
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn options(&self) -> &StoreOptions {
        &self.options
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }

    pub(crate) fn reopened(&self) -> u64 {
        self.reopened.load(Relaxed)
    }

    fn connect(&self) -> Result<Connection> {
        if self.read_only {
            db::open_read_only(&self.path, &self.options)
        } else {
            db::open(&self.path, &self.options)
        }
    }

    /// Runs `f` on the read connection with what it last learnt of the database (nothing,
    /// on a connection that has not looked yet). Waits only for other reads (and a fork in
    /// progress).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection, &mut Seen) -> Result<T>) -> Result<T> {
        let _call = fork::enter();
        if self.memory {
            // The one connection sees every change itself: there is nothing to remember.
            return self.write_locked(|conn| f(conn, &mut Seen::default()));
        }
        let mut guard = self.reader.lock();
        if self.is_closed() {
            return Err(Error::StoreClosed);
        }
        let rc = guard.get(
            || {
                Ok(ReadConn {
                    conn: self.connect()?,
                    seen: Seen::default(),
                })
            },
            &self.reopened,
        )?;
        f(&rc.conn, &mut rc.seen)
    }

    /// Runs `f` on the write connection, after any write in flight on another thread.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let _call = fork::enter();
        self.check_writable()?;
        self.write_locked(f)
    }

    fn write_locked<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut guard = self.writer.lock();
        if self.is_closed() {
            return Err(Error::StoreClosed);
        }
        f(guard.get(|| self.connect(), &self.reopened)?)
    }

    /// Closes both connections; later calls fail with `store_closed`.
    pub(crate) fn close(&self) {
        let _call = fork::enter();
        self.closed.store(true, Relaxed);
        self.reader.lock().conn.take();
        self.writer.lock().conn.take();
    }
}

impl CloseOnFork for Conns {
    fn close_for_fork(&self) {
        if self.memory {
            return;
        }
        // No call is in flight (the prepare handler waited), so neither lock is held.
        self.reader.lock().close_for_fork();
        self.writer.lock().close_for_fork();
    }
}
