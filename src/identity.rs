//! Who may call s3kms: the configured users, their credentials, identity policies and
//! persisted unique ids (L1).
//!
//! Owns: looking a user up by access key id, and what the policy engine needs to know about
//! the user (ARN, account, unique id, identity policies). Authentication (signature checks) is
//! the API layers' job; authorization is the policy engine's.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use crate::config::{Config, UserConfig};
use crate::policy::{self, PolicyDocument};
use crate::sigv4::SecretKey;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct User {
    /// The IAM-style user name.
    pub name: String,
    /// The access key id the request was signed with.
    pub access_key_id: String,
    /// `arn:aws:iam::<account>:user/<name>`.
    pub arn: String,
    /// The account that owns the user.
    pub account_id: String,
    /// The persisted unique id (`AIDA…`) that key policies refer to.
    pub unique_id: String,
    /// The user's identity policies.
    pub policies: Arc<[PolicyDocument]>,
    secret: SecretKey,
}

impl User {
    /// The secret the user's requests are signed with.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// The user as a policy principal.
    pub fn principal(&self) -> policy::Principal {
        policy::Principal {
            arn: self.arn.clone(),
            account_id: self.account_id.clone(),
            unique_id: Some(self.unique_id.clone()),
        }
    }
}

/// The users of one s3kms instance, by access key id.
#[derive(Debug, Clone, Default)]
pub struct Users {
    by_access_key: HashMap<String, Arc<User>>,
}

impl Users {
    /// The users declared in the config, with their unique ids (user name → id).
    pub fn from_config(config: &Config, unique_ids: &BTreeMap<String, String>) -> Users {
        let by_access_key = config
            .users
            .iter()
            .map(|user| {
                let unique_id = unique_ids.get(&user.name).cloned().unwrap_or_default();
                (
                    user.access_key_id.clone(),
                    Arc::new(User::from_config(user, &config.account_id, unique_id)),
                )
            })
            .collect();
        Users { by_access_key }
    }

    /// The user who owns `access_key_id`.
    pub fn by_access_key(&self, access_key_id: &str) -> Option<Arc<User>> {
        self.by_access_key.get(access_key_id).cloned()
    }
}

impl User {
    fn from_config(user: &UserConfig, account_id: &str, unique_id: String) -> User {
        User {
            name: user.name.clone(),
            access_key_id: user.access_key_id.clone(),
            arn: format!("arn:aws:iam::{account_id}:user/{}", user.name),
            account_id: account_id.to_owned(),
            unique_id,
            policies: user.policies.clone().into(),
            secret: user.secret_access_key.clone(),
        }
    }
}

/// The users in force, replaceable while s3kms runs (config reload on SIGHUP). Requests take
/// the current set once, so a reload never changes the users under a request in flight.
#[derive(Debug, Clone, Default)]
pub struct UserDirectory(Arc<RwLock<Arc<Users>>>);

impl UserDirectory {
    /// A directory holding `users`.
    pub fn new(users: Users) -> UserDirectory {
        UserDirectory(Arc::new(RwLock::new(Arc::new(users))))
    }

    /// The users in force now.
    pub fn current(&self) -> Arc<Users> {
        match self.0.read() {
            Ok(users) => Arc::clone(&users),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Puts `users` in force for every request that starts from now on.
    pub fn replace(&self, users: Users) {
        match self.0.write() {
            Ok(mut current) => *current = Arc::new(users),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(users),
        }
    }
}
