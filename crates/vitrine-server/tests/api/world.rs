//! A small marketplace with one caller of every kind, shared by the authorization and
//! visibility tests.
//!
//! Provider P (owner, member) offers `priv-svc` (private), `lim-svc` (limited, allowlisting
//! customer account C) and `pub-svc` (public). Provider Q has a member. Customer account C
//! has a customer; account D another customer. Plus a validator and the admin.

use serde_json::json;

use crate::support::{Client, TestApp, TestUser};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Anonymous,
    Customer,
    OtherCustomer,
    OtherProviderMember,
    ProviderMember,
    ProviderOwner,
    Validator,
    Admin,
}

pub const ROLES: [Role; 8] = [
    Role::Anonymous,
    Role::Customer,
    Role::OtherCustomer,
    Role::OtherProviderMember,
    Role::ProviderMember,
    Role::ProviderOwner,
    Role::Validator,
    Role::Admin,
];

pub struct World {
    pub app: TestApp,
    pub provider: String,
    pub customer_account: String,
    pub other_customer_account: String,
    pub owner: TestUser,
    pub member: TestUser,
    pub other_member: TestUser,
    pub customer: TestUser,
    pub other_customer: TestUser,
    pub validator: TestUser,
}

impl World {
    pub async fn build(app: TestApp) -> World {
        let owner = app.user("owner@p.test").await;
        let member = app.user("member@p.test").await;
        let other_member = app.user("member@q.test").await;
        let customer = app.user("customer@c.test").await;
        let other_customer = app.user("customer@d.test").await;
        let validator = app
            .user_with(json!({
                "email": "validator@vitrine.test",
                "display_name": "Val",
                "staff": {"admin": false, "validator": true},
            }))
            .await;
        let provider = app.provider("Provider P", &owner).await;
        app.add_member(&provider, &member, "member").await;
        app.provider("Provider Q", &other_member).await;
        let customer_account = app.account("Customer C", &customer).await;
        let other_customer_account = app.account("Customer D", &other_customer).await;
        app.offering(
            &owner.client,
            &provider,
            "priv-svc",
            "private",
            &[],
            json!({}),
        )
        .await;
        app.offering(
            &member.client,
            &provider,
            "lim-svc",
            "limited",
            &[&customer_account],
            json!({}),
        )
        .await;
        app.offering(
            &owner.client,
            &provider,
            "pub-svc",
            "public",
            &[],
            json!({}),
        )
        .await;
        World {
            app,
            provider,
            customer_account,
            other_customer_account,
            owner,
            member,
            other_member,
            customer,
            other_customer,
            validator,
        }
    }

    pub fn client(&self, role: Role) -> Client {
        match role {
            Role::Anonymous => self.app.anonymous(),
            Role::Customer => self.customer.client.clone(),
            Role::OtherCustomer => self.other_customer.client.clone(),
            Role::OtherProviderMember => self.other_member.client.clone(),
            Role::ProviderMember => self.member.client.clone(),
            Role::ProviderOwner => self.owner.client.clone(),
            Role::Validator => self.validator.client.clone(),
            Role::Admin => self.app.admin.clone(),
        }
    }
}
