//! ACLs ([`Acl`]) and the `kafka-acls` arguments they become.

/// An ACL operation on a topic or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclOperation {
    /// Read (consume; for a group: join it and commit).
    Read,
    /// Write (produce).
    Write,
    /// Create.
    Create,
    /// Describe (metadata, offsets).
    Describe,
    /// Delete.
    Delete,
    /// Alter.
    Alter,
    /// Everything.
    All,
}

impl AclOperation {
    /// `kafka-acls`' name.
    pub fn name(self) -> &'static str {
        match self {
            AclOperation::Read => "Read",
            AclOperation::Write => "Write",
            AclOperation::Create => "Create",
            AclOperation::Describe => "Describe",
            AclOperation::Delete => "Delete",
            AclOperation::Alter => "Alter",
            AclOperation::All => "All",
        }
    }
}

/// What an ACL is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclResource {
    /// A topic (`*` for every topic).
    Topic(String),
    /// A consumer group (`*` for every group).
    Group(String),
}

impl AclResource {
    /// `kafka-acls`' arguments naming it: `--topic <name>` or `--group <name>`.
    pub fn args(&self) -> (&'static str, &str) {
        match self {
            AclResource::Topic(t) => ("--topic", t),
            AclResource::Group(g) => ("--group", g),
        }
    }
}

/// One ACL: allow or deny `principal` an operation on a resource.
///
/// ```
/// use ducttape_services::kafka::{Acl, AclOperation, AclResource};
/// let acl = Acl::allow("alice", AclOperation::Write, AclResource::Topic("t".into()));
/// assert_eq!(
///     acl.args(),
///     ["--allow-principal", "User:alice", "--operation", "Write", "--topic", "t"]
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    allow: bool,
    user: String,
    operation: AclOperation,
    resource: AclResource,
}

impl Acl {
    /// Allows `user` `operation` on `resource`.
    pub fn allow(user: &str, operation: AclOperation, resource: AclResource) -> Self {
        Self {
            allow: true,
            user: user.into(),
            operation,
            resource,
        }
    }

    /// Denies it (a deny wins over any allow).
    pub fn deny(user: &str, operation: AclOperation, resource: AclResource) -> Self {
        Self {
            allow: false,
            ..Self::allow(user, operation, resource)
        }
    }

    /// What a producer of `topic` needs: Write and Describe on it.
    pub fn producer(user: &str, topic: &str) -> Vec<Acl> {
        let t = || AclResource::Topic(topic.into());
        vec![
            Self::allow(user, AclOperation::Write, t()),
            Self::allow(user, AclOperation::Describe, t()),
        ]
    }

    /// What a consumer of `topic` in `group` needs: Read and Describe on the topic, Read on
    /// the group.
    pub fn consumer(user: &str, topic: &str, group: &str) -> Vec<Acl> {
        let t = || AclResource::Topic(topic.into());
        vec![
            Self::allow(user, AclOperation::Read, t()),
            Self::allow(user, AclOperation::Describe, t()),
            Self::allow(user, AclOperation::Read, AclResource::Group(group.into())),
        ]
    }

    /// The `kafka-acls` arguments after `--add` for `acls`: one argument list per principal,
    /// permission and resource, its operations together (one tool run each instead of one
    /// per operation).
    ///
    /// ```
    /// use ducttape_services::kafka::Acl;
    /// let runs = Acl::batched(&Acl::consumer("bob", "t", "g"));
    /// assert_eq!(runs.len(), 2);
    /// assert_eq!(
    ///     runs[0],
    ///     ["--allow-principal", "User:bob", "--topic", "t", "--operation", "Read", "--operation", "Describe"]
    /// );
    /// ```
    pub fn batched(acls: &[Acl]) -> Vec<Vec<String>> {
        let mut runs: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        for acl in acls {
            let args = acl.args();
            let (who, what) = ([&args[0..2], &args[4..6]].concat(), args[2..4].to_vec());
            match runs.iter_mut().find(|(w, _)| *w == who) {
                Some((_, ops)) => ops.extend(what),
                None => runs.push((who, what)),
            }
        }
        runs.into_iter()
            .map(|(mut who, ops)| {
                who.extend(ops);
                who
            })
            .collect()
    }

    /// The resource it is about.
    pub fn resource(&self) -> &AclResource {
        &self.resource
    }

    /// How `kafka-acls --list` shows it: `(principal=User:alice, host=*, operation=WRITE,
    /// permissionType=ALLOW)`.
    ///
    /// ```
    /// use ducttape_services::kafka::{Acl, AclOperation, AclResource};
    /// let acl = Acl::allow("alice", AclOperation::Write, AclResource::Topic("t".into()));
    /// assert_eq!(acl.listed(), "(principal=User:alice, host=*, operation=WRITE, permissionType=ALLOW)");
    /// ```
    pub fn listed(&self) -> String {
        format!(
            "(principal=User:{}, host=*, operation={}, permissionType={})",
            self.user,
            self.operation.name().to_uppercase(),
            if self.allow { "ALLOW" } else { "DENY" }
        )
    }

    /// The ACL entries of `kafka-acls --list` output, one per ACL, as [`listed`](Self::listed)
    /// writes them.
    ///
    /// ```
    /// use ducttape_services::kafka::Acl;
    /// let out = "Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=t, patternType=LITERAL)`: \n \t(principal=User:alice, host=*, operation=WRITE, permissionType=ALLOW) \n\n";
    /// assert_eq!(
    ///     Acl::parse_listed(out),
    ///     ["(principal=User:alice, host=*, operation=WRITE, permissionType=ALLOW)"]
    /// );
    /// ```
    pub fn parse_listed(out: &str) -> Vec<String> {
        out.lines()
            .map(str::trim)
            .filter(|l| l.starts_with("(principal="))
            .map(str::to_string)
            .collect()
    }

    /// The `kafka-acls` arguments after `--add`.
    pub fn args(&self) -> Vec<String> {
        let (kind, name) = self.resource.args();
        vec![
            if self.allow {
                "--allow-principal"
            } else {
                "--deny-principal"
            }
            .to_string(),
            format!("User:{}", self.user),
            "--operation".into(),
            self.operation.name().into(),
            kind.into(),
            name.into(),
        ]
    }
}
